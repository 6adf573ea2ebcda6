#Requires -Version 7.4
<#
.SYNOPSIS
    In the test VM: the engine against its C peer (bench/c/vbload) on the null-backed disk, QD8 / batch 4, one vCPU,
    sequential 4 KiB reads, on the four paths: block, passthrough, polled block, polled passthrough. Alternating
    rounds, medians, ratio = module IOPS / C IOPS. Build the peer on the host first (bench/c/build.sh), then:
        tests/vm/run-vm.sh --timeout 1500 --command 'pwsh -NoProfile -File bench/Vm-CPeer.ps1'
#>
param(
    [int] $Rounds = 3,
    [double] $Seconds = 2,
    [int] $Cpu = 0,
    [string] $ResultPath = (Join-Path $PSScriptRoot 'results/vm-cpeer.json')
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
$ProgressPreference = 'SilentlyContinue' # the C peer draws no progress; the module's bar would cost it guest CPU time
Import-Module (Join-Path $PSScriptRoot '../VirtioBlk.psd1') -Force
$peer = Join-Path $PSScriptRoot 'c/vbload'
if (-not (Test-Path $peer)) { throw "build the peer on the host first: bench/c/build.sh" }
$disk = Get-VirtioBlkDevice | Where-Object Serial -EQ 'vbnull' | Select-Object -First 1
if (-not $disk) { throw 'no null-backed disk (serial vbnull) in this VM' }
Import-Module (Join-Path $PSScriptRoot 'BenchStats.psm1') -Force
$paths = @(
    @{ Name = 'block'; Mode = 'Block'; Poll = $false }, @{ Name = 'passthrough'; Mode = 'Passthrough'; Poll = $false }
    @{ Name = 'polled block'; Mode = 'Block'; Poll = $true }, @{ Name = 'polled passthrough'; Mode = 'Passthrough'; Poll = $true }
)
$out = foreach ($p in $paths) {
    $node = if ($p.Mode -eq 'Passthrough') { $disk.CharDevicePath } else { $disk.Path }
    $runs = for ($i = 1; $i -le $Rounds; $i++) {
        $res = @{}
        foreach ($t in $(if ($i % 2) { 'module', 'c' } else { 'c', 'module' })) {
            if ($t -eq 'module') {
                $r = Invoke-VirtioBlkBenchmark -Path $node -Mode $p.Mode -Poll:$p.Poll -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 4 -Pattern Sequential `
                    -FixedBuffers -RegisteredFiles -NoLatency -Seconds $Seconds -RampSeconds 0.5 -CpuAffinity $Cpu
                $res.module = $r.Iops
            }
            else {
                $a = @('-p', $node, '-b', 4096, '-d', 8, '-s', 4, '-c', 4, '-O', 1, '-B', '-F', '-R', 0, '-r', $Seconds, '-w', 0.5)
                if ($p.Poll) { $a += '-P' }
                if ($p.Mode -eq 'Passthrough') { $a += '-u' }
                $line = & taskset -c $Cpu $peer @a
                $res.c = [double] (($line -split ' ')[0] -replace 'iops=')
            }
        }
        [pscustomobject]@{ Round = $i; Module = $res.module; C = $res.c; Ratio = $res.module / $res.c }
    }
    $rs = Get-RatioSummary @($runs.Ratio)
    [pscustomobject]@{ Path = $p.Name; ModuleIops = [math]::Round((Get-Median $runs.Module)); CIops = [math]::Round((Get-Median $runs.C))
        Ratio = Format-RatioSummary $rs; RatioSummary = $rs; Runs = $runs }
}
$out | Format-Table Path, ModuleIops, CIops, Ratio -AutoSize | Out-String | Write-Host
[pscustomobject]@{ Date = (Get-Date).ToString('o'); Kernel = (Get-Content /proc/sys/kernel/osrelease); Rounds = $Rounds; Results = $out } | ConvertTo-Json -Depth 5 | Set-Content $ResultPath
