#Requires -Version 7.4
<#
.SYNOPSIS
    In the test VM: Compare mode (passthrough vs block, alternating, identical knobs) on the null-backed disk
    (serial vbnull) at QD1 and at QD8 with batches of 4, reads and writes, with and without -Poll.
    Run from the host:
        dotnet pwsh -NoProfile -File build.ps1 -Task VmRun -Command 'pwsh -NoProfile -File bench/Vm-Compare.ps1'
.NOTES
    The guest runs under QEMU's TCG (no KVM on these machines), so absolute numbers are the emulator's; the
    ratio between the paths is the figure to read. Writes go to the null disk only (it stores nothing).
#>
param([int] $Rounds = 3, [double] $Seconds = 2, [string] $ResultPath = (Join-Path $PSScriptRoot 'results/vm-compare.json'))
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module (Join-Path $PSScriptRoot '../VirtioBlk.psd1') -Force
$disk = Get-VirtioBlkDevice | Where-Object Serial -EQ 'vbnull'
if (-not $disk) { throw "No disk with serial 'vbnull': run this in the test VM (build.ps1 -Task VmRun)." }
$rows = foreach ($op in 'Read', 'Write') {
    foreach ($poll in $false, $true) {
        foreach ($c in @(1, 1), @(8, 4)) {
            $disk | Invoke-VirtioBlkBenchmark -Compare -Operation $op -Poll:$poll -QueueDepth $c[0] -SubmitBatch $c[1] `
                -CompleteBatch $c[1] -FixedBuffers -RegisteredFiles -Rounds $Rounds -Seconds $Seconds -Confirm:$false
        }
    }
}
$rows | Format-Table -AutoSize | Out-String -Width 200
New-Item -ItemType Directory -Force (Split-Path $ResultPath) | Out-Null
$rows | ConvertTo-Json -Depth 6 | Set-Content $ResultPath
"saved to $ResultPath"
