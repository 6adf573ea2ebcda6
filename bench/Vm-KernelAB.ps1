#Requires -Version 7.4
<#
.SYNOPSIS
    Two guest kernels compared with the module's benchmark: the passthrough path's cost per I/O before and after a
    kernel change (issue 12: the char device's rw_semaphore, removed by the review fixes). Boots the two kernels in
    turn (A B B A A B ...), and in each boot runs the same rounds on the null-backed disk (vbnull): passthrough QD1,
    QD8 / batch 4 and polled QD8 / batch 4, sequential 4 KiB reads, fixed buffers and registered files, pinned to
    vCPU 0. Per configuration and kernel: median IOPS and median system CPU per I/O (getrusage of the worker thread:
    the kernel's submit and complete path, where the semaphore was), over every round of every boot.
        bench/Vm-KernelAB.ps1 -Before <bzImage> -After <bzImage> [-Boots 3] [-Rounds 3]
    Build the kernels with kernel/build-kernel.sh (--patches DIR for an older set), and the module first.
#>
param(
    [string] $Before,
    [string] $After,
    [int] $Boots = 3,
    [int] $Rounds = 3,
    [double] $Seconds = 2,
    [string] $ResultPath = (Join-Path $PSScriptRoot 'results/vm-kernel-ab.json'),
    # In the guest (run-vm.sh runs this script again with -Guest): the rounds of one boot, to $env:VBK_RESULTS.
    [switch] $Guest,
    [string] $Label
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
$configs = @(
    @{ Name = 'passthrough QD1'; QD = 1; Batch = 1; Poll = $false }
    @{ Name = 'passthrough QD8/4'; QD = 8; Batch = 4; Poll = $false }
    @{ Name = 'polled passthrough QD8/4'; QD = 8; Batch = 4; Poll = $true }
)

if ($Guest) {
    Import-Module (Join-Path $PSScriptRoot '../VirtioBlk.psd1') -Force
    $disk = Get-VirtioBlkDevice | Where-Object Serial -EQ 'vbnull' | Select-Object -First 1
    if (-not $disk) { throw 'no null-backed disk (serial vbnull) in this VM' }
    $rows = for ($i = 1; $i -le $Rounds; $i++) {
        foreach ($c in $configs) {
            $r = Invoke-VirtioBlkBenchmark -Path $disk.CharDevicePath -Mode Passthrough -Poll:$c.Poll -QueueDepth $c.QD `
                -SubmitBatch $c.Batch -CompleteBatch $c.Batch -Pattern Sequential -FixedBuffers -RegisteredFiles -NoLatency `
                -Seconds $Seconds -RampSeconds 0.5 -CpuAffinity 0
            [pscustomobject]@{
                Label = $Label; Kernel = $r.KernelRelease; Config = $c.Name; Round = $i; Iops = $r.Iops; Errors = $r.Errors
                SysNsPerIo = 1e9 * $r.SystemCpuSeconds / [math]::Max(1, $r.TotalIos)
                UserNsPerIo = 1e9 * $r.UserCpuSeconds / [math]::Max(1, $r.TotalIos)
            }
        }
    }
    $rows | ConvertTo-Json -Depth 3 | Set-Content (Join-Path $env:VBK_RESULTS 'kernel-ab.json')
    return
}

if (-not $Before -or -not $After) { throw 'give -Before and -After (bzImage paths)' }
Import-Module (Join-Path $PSScriptRoot 'BenchStats.psm1') -Force
$root = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
$kernels = @{ before = (Resolve-Path $Before).Path; after = (Resolve-Path $After).Path }
$work = Join-Path ([IO.Path]::GetTempPath()) "vbk-kernel-ab-$PID"
$all = [Collections.Generic.List[object]]::new()
for ($b = 1; $b -le $Boots; $b++) {
    # A B, then B A: neither kernel always boots on a host warmed by the other.
    foreach ($label in $(if ($b % 2) { 'before', 'after' } else { 'after', 'before' })) {
        $res = Join-Path $work "$label-$b"
        $null = New-Item -ItemType Directory -Force $res
        & bash (Join-Path $root 'tests/vm/run-vm.sh') --kernel $kernels[$label] --timeout 900 --results $res `
            --command "pwsh -NoProfile -File bench/Vm-KernelAB.ps1 -Guest -Label $label -Rounds $Rounds -Seconds $Seconds" | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "the $label boot $b failed (exit $LASTEXITCODE); see $res" }
        $rows = Get-Content (Join-Path $res 'kernel-ab.json') -Raw | ConvertFrom-Json
        foreach ($r in $rows) { $r | Add-Member Boot $b; $all.Add($r) }
        Write-Host "boot $b $label ($($rows[0].Kernel)): $(@($rows | ForEach-Object { '{0} {1:0}' -f $_.Config, $_.Iops }) -join ', ')"
    }
}
Remove-Item -Recurse -Force $work -ErrorAction Ignore
$summary = foreach ($c in $configs) {
    $b = @($all | Where-Object { $_.Config -eq $c.Name -and $_.Label -eq 'before' })
    $a = @($all | Where-Object { $_.Config -eq $c.Name -and $_.Label -eq 'after' })
    [pscustomobject]@{
        Config = $c.Name
        BeforeIops = [math]::Round((Get-Median $b.Iops)); AfterIops = [math]::Round((Get-Median $a.Iops))
        IopsAfterOverBefore = '{0:0.00}' -f ((Get-Median $a.Iops) / (Get-Median $b.Iops))
        BeforeSysNsPerIo = [math]::Round((Get-Median $b.SysNsPerIo)); AfterSysNsPerIo = [math]::Round((Get-Median $a.SysNsPerIo))
        BeforeIopsRange = '{0:0}-{1:0}' -f ($b.Iops | Measure-Object -Minimum).Minimum, ($b.Iops | Measure-Object -Maximum).Maximum
        AfterIopsRange = '{0:0}-{1:0}' -f ($a.Iops | Measure-Object -Minimum).Minimum, ($a.Iops | Measure-Object -Maximum).Maximum
        Errors = ($b.Errors + $a.Errors | Measure-Object -Sum).Sum
    }
}
$summary | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
[pscustomobject]@{
    Date = (Get-Date).ToString('o'); Before = $kernels.before; After = $kernels.after; Boots = $Boots; Rounds = $Rounds
    Seconds = $Seconds; Load = (Get-Content /proc/loadavg); Summary = $summary; Runs = $all
} | ConvertTo-Json -Depth 5 | Set-Content $ResultPath
