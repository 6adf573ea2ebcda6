#Requires -Version 7.4
<#
.SYNOPSIS
    The engine against a C peer of its own (bench/c/vbload: raw io_uring syscalls, the same loop and knobs) and,
    when installed, fio's io_uring engine, alternately on one CPU-bound substrate. Prints per configuration the
    median IOPS ratio and the median CPU-per-I/O ratio (C / module: >= 1.00 means the module is as fast as C).
    Run by hand, as root, after a build:
        dotnet pwsh -NoProfile -File bench/Compare-CPeer.ps1 [-Rounds 5] [-Seconds 2]
.DESCRIPTION
    Substrate: page-cache reads of a loop device over a tmpfs file, buffered (-Buffered / vbload -O 0 / fio
    --direct=0), the cache warmed first. Such reads complete inline in io_uring_enter, so they are CPU-bound and do
    not depend on which vCPU a loop worker runs on (O_DIRECT on a loop device is bimodal on 2-vCPU machines).
    Every configuration is 4 KiB random reads with registered files and buffers, latency recording off (the peer
    records none), one thread pinned to the CPU given by -Cpu, a warm-up of -RampSeconds excluded:
      QD8 / batch 4, QD32 / batch 8, QD128 / batch 32 (submit batch = complete batch).
    Each round runs the module (in this process, warm, as a user's session is) and the peer back to back, the
    order swapped every round. Two figures per run:
      IOPS             wall clock: what a user sees, but inflated or deflated by anything else the machine runs;
      CPU ns per I/O   the thread's user + system time per I/O (getrusage RUSAGE_THREAD, both sides): what the
                       engine costs, much less sensitive to a busy run queue.
    Results (every run) go to -ResultPath as JSON.
#>
param(
    [int] $Rounds = 5,
    [double] $Seconds = 2,
    [double] $RampSeconds = 0.5,
    [int] $Cpu = 1,
    [string] $Fio = 'fio',
    [string] $ResultPath = (Join-Path $PSScriptRoot 'results/compare-cpeer.json')
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
if ((id -u) -ne '0') { throw 'Run as root: the bench creates a loop device.' }
Import-Module (Join-Path $PSScriptRoot '../VirtioBlk.psd1') -Force
$peer = (& (Join-Path $PSScriptRoot 'c/build.sh') | Select-Object -Last 1).Trim()
$haveFio = [bool](Get-Command $Fio -ErrorAction Ignore)

$file = "/dev/shm/vblk-cpeer-$PID.img"
& truncate -s 256M $file
$dev = (& losetup --find --show $file).Trim()
Import-Module (Join-Path $PSScriptRoot 'BenchStats.psm1') -Force

function Invoke-Module($qd, $batch) {
    $r = Invoke-VirtioBlkBenchmark -Path $dev -Buffered -QueueDepth $qd -SubmitBatch $batch -CompleteBatch $batch -FixedBuffers -RegisteredFiles `
        -NoLatency -Seconds $Seconds -RampSeconds $RampSeconds -CpuAffinity $Cpu
    if ($r.Errors) { throw "module: $($r.Errors) errors ($($r.FirstError))" }
    [pscustomobject]@{ Tool = 'module'; Iops = $r.Iops; CpuNsPerIo = ($r.UserCpuSeconds + $r.SystemCpuSeconds) * 1e9 / $r.TotalIos; AllocatedBytesPerIo = $r.AllocatedBytesPerIo }
}

function Invoke-Peer($qd, $batch) {
    $line = & taskset -c $Cpu $peer -p $dev -b 4096 -d $qd -s $batch -c $batch -O 0 -B -F -R 1 -r $Seconds -w $RampSeconds
    if ($LASTEXITCODE) { throw "vbload failed: $line" }
    $kv = @{}; foreach ($p in $line -split ' ') { $k, $v = $p -split '='; $kv[$k] = [double] $v }
    [pscustomobject]@{ Tool = 'c'; Iops = $kv.iops; CpuNsPerIo = $kv.cpu_ns_per_io; AllocatedBytesPerIo = 0 }
}

function Invoke-FioRun($qd, $batch) {
    # --invalidate=0: fio drops the device's page cache before a job by default, which would turn this substrate into
    # loop-device I/O for fio alone (seen: 6-8 us of CPU per I/O, a tenth of the others' IOPS).
    $a = @('--name=vblk', "--filename=$dev", '--ioengine=io_uring', '--direct=0', '--invalidate=0', '--rw=randread', '--bs=4k',
        "--iodepth=$qd", "--iodepth_batch_submit=$batch", "--iodepth_batch_complete_min=$batch", '--registerfiles=1', '--fixedbufs=1',
        '--gtod_reduce=1', '--time_based', "--runtime=$Seconds", "--ramp_time=$RampSeconds", "--cpus_allowed=$Cpu", '--output-format=json')
    $j = (& $Fio @a | ConvertFrom-Json).jobs[0]
    $cpuNs = ($j.usr_cpu + $j.sys_cpu) / 100 * $Seconds * 1e9
    [pscustomobject]@{ Tool = 'fio'; Iops = $j.read.iops; CpuNsPerIo = $cpuNs / [math]::Max(1, $j.read.total_ios); AllocatedBytesPerIo = 0 }
}

try {
    & dd if=$dev of=/dev/null bs=1M status=none   # warm the page cache of the whole device
    $configs = @(@{ QD = 8; Batch = 4 }, @{ QD = 32; Batch = 8 }, @{ QD = 128; Batch = 32 })
    $all = foreach ($c in $configs) {
        $runs = for ($round = 1; $round -le $Rounds; $round++) {
            $order = if ($round % 2) { 'module', 'c', 'fio' } else { 'fio', 'c', 'module' }
            $res = @{}
            foreach ($t in $order) {
                switch ($t) {
                    'module' { $res.module = Invoke-Module $c.QD $c.Batch }
                    'c' { $res.c = Invoke-Peer $c.QD $c.Batch }
                    'fio' { if ($haveFio) { $res.fio = Invoke-FioRun $c.QD $c.Batch } }
                }
            }
            [pscustomobject]@{
                Round = $round; Module = $res.module; C = $res.c; Fio = $res.fio
                IopsRatio = $res.module.Iops / $res.c.Iops
                CpuRatio = $res.c.CpuNsPerIo / $res.module.CpuNsPerIo
                FioIopsRatio = if ($res.fio) { $res.module.Iops / $res.fio.Iops } else { $null }
            }
        }
        $is = Get-RatioSummary @($runs.IopsRatio); $cs = Get-RatioSummary @($runs.CpuRatio)
        [pscustomobject]@{
            Configuration = "QD$($c.QD) batch $($c.Batch)"
            ModuleIops = [math]::Round((Get-Median $runs.Module.Iops)); CIops = [math]::Round((Get-Median $runs.C.Iops))
            IopsRatio = Format-RatioSummary $is
            IopsRatioSummary = $is
            ModuleCpuNsPerIo = [math]::Round((Get-Median $runs.Module.CpuNsPerIo)); CCpuNsPerIo = [math]::Round((Get-Median $runs.C.CpuNsPerIo))
            CpuRatio = Format-RatioSummary $cs
            FioIopsRatio = if ($haveFio) { '{0:0.00}' -f (Get-Median @($runs.FioIopsRatio)) } else { 'fio not installed' }
            FioCpuNsPerIo = if ($haveFio) { [math]::Round((Get-Median $runs.Fio.CpuNsPerIo)) } else { $null }
            AllocatedBytesPerIo = Get-Median $runs.Module.AllocatedBytesPerIo
            Runs = $runs
        }
    }
    $all | Format-Table Configuration, ModuleIops, CIops, IopsRatio, ModuleCpuNsPerIo, CCpuNsPerIo, CpuRatio, FioIopsRatio, AllocatedBytesPerIo -AutoSize | Out-String -Width 200 | Write-Host
    Write-Host "ratios: min / median / max over $Rounds rounds, and a 95% bootstrap interval of the median; IopsRatio = module/C, CpuRatio = C cpu-ns-per-IO / module's (>= 1: module is as cheap)"
    Write-Host "load average at the end: $((Get-Content /proc/loadavg))"
    $null = New-Item -ItemType Directory -Force (Split-Path $ResultPath)
    [pscustomobject]@{ Date = (Get-Date).ToString('o'); Kernel = (Get-Content /proc/sys/kernel/osrelease); LoadAverage = (Get-Content /proc/loadavg); Rounds = $Rounds; Seconds = $Seconds; Results = $all } |
        ConvertTo-Json -Depth 6 | Set-Content $ResultPath
}
finally {
    & losetup -d $dev
    Remove-Item $file -ErrorAction Ignore
}
