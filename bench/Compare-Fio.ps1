#Requires -Version 7.4
<#
.SYNOPSIS
    Runs fio's io_uring engine and Invoke-VirtioBlkBenchmark alternately on one loop device and prints the IOPS
    ratio (VirtioBlk / fio) with its min / median / max per configuration. Run by hand, as root, after a build:
        dotnet pwsh -NoProfile -File bench/Compare-Fio.ps1
.DESCRIPTION
    The device is a loop device over a tmpfs file (created and removed here). Every configuration is 4 KiB random
    reads with O_DIRECT, registered files and registered buffers, at QD1, QD8 with batches of 4 and QD32 with
    batches of 8, with latency recording on and off:
      fio:       --ioengine=io_uring --direct=1 --registerfiles=1 --fixedbufs=1 --iodepth=D
                 --iodepth_batch_submit=B --iodepth_batch_complete_min=B   (latency off: --gtod_reduce=1)
      VirtioBlk: -QueueDepth D -SubmitBatch B -CompleteBatch B -FixedBuffers -RegisteredFiles   (off: -NoLatency)
    Each round runs the two back to back, the order swapped every round; the module runs inside this process
    (warm, as a user's session is) and fio as a child process. Also prints the module's latency-recording cost,
    its managed bytes allocated per I/O, and IOPS with -Threads 1 and 2.
#>
param(
    [int] $Rounds = 5,
    [double] $Seconds = 3,
    [string] $Fio = 'fio',
    [string] $ResultPath = (Join-Path $PSScriptRoot 'results/compare-fio.json')
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
if ((id -u) -ne '0') { throw 'Run as root: the bench creates a loop device.' }
if (-not (Get-Command $Fio -ErrorAction Ignore)) { throw "fio is missing: apt-get install fio" }
Import-Module (Join-Path $PSScriptRoot '../VirtioBlk.psd1') -Force

$file = "/dev/shm/vblk-bench-$PID.img"
& truncate -s 1G $file
$dev = (& losetup --find --show $file).Trim()
Import-Module (Join-Path $PSScriptRoot 'BenchStats.psm1') -Force

function Invoke-Fio($qd, $batch, [bool] $latency) {
    $a = @('--name=vblk', "--filename=$dev", '--ioengine=io_uring', '--direct=1', '--rw=randread', '--bs=4k',
        "--iodepth=$qd", "--iodepth_batch_submit=$batch", "--iodepth_batch_complete_min=$batch",
        '--registerfiles=1', '--fixedbufs=1', '--time_based', "--runtime=$Seconds", '--output-format=json')
    if (-not $latency) { $a += '--gtod_reduce=1' }
    $json = & $Fio @a | ConvertFrom-Json
    [double]$json.jobs[0].read.iops
}

function Invoke-Module($qd, $batch, [bool] $latency) {
    $r = Invoke-VirtioBlkBenchmark -Path $dev -QueueDepth $qd -SubmitBatch $batch -CompleteBatch $batch `
        -FixedBuffers -RegisteredFiles -Seconds $Seconds -NoLatency:(-not $latency)
    $script:LastAlloc = $r.AllocatedBytesPerIo
    [double]$r.Iops
}

try {
    # Warm-up: JIT and tiering of the engine's loop, and the loop device's first touches.
    Invoke-Module 8 4 $true | Out-Null
    $configs = foreach ($lat in $true, $false) { foreach ($c in @(1, 1), @(8, 4), @(32, 8)) { [pscustomobject]@{ QD = $c[0]; Batch = $c[1]; Latency = $lat } } }
    $rows = foreach ($c in $configs) {
        $ratios = @(); $mods = @(); $fios = @()
        for ($i = 0; $i -lt $Rounds; $i++) {
            if ($i % 2 -eq 0) { $f = Invoke-Fio $c.QD $c.Batch $c.Latency; $m = Invoke-Module $c.QD $c.Batch $c.Latency }
            else { $m = Invoke-Module $c.QD $c.Batch $c.Latency; $f = Invoke-Fio $c.QD $c.Batch $c.Latency }
            $mods += $m; $fios += $f; $ratios += $m / $f
        }
        $row = [pscustomobject]@{
            Config = 'QD{0} batch {1}, latency {2}' -f $c.QD, $c.Batch, $(if ($c.Latency) { 'on' } else { 'off' })
            VirtioBlkIops = [math]::Round((Get-Median $mods))
            FioIops = [math]::Round((Get-Median $fios))
            RatioMin = [math]::Round(($ratios | Measure-Object -Minimum).Minimum, 3)
            RatioMedian = [math]::Round((Get-Median $ratios), 3)
            RatioMax = [math]::Round(($ratios | Measure-Object -Maximum).Maximum, 3)
            AllocatedBytesPerIo = $script:LastAlloc
        }
        $row | Format-Table -AutoSize | Out-String | Write-Host
        $row
    }
    $cost = foreach ($c in @(1, 1), @(8, 4), @(32, 8)) {
        $on = ($rows | Where-Object Config -EQ ('QD{0} batch {1}, latency on' -f $c[0], $c[1])).VirtioBlkIops
        $off = ($rows | Where-Object Config -EQ ('QD{0} batch {1}, latency off' -f $c[0], $c[1])).VirtioBlkIops
        [pscustomobject]@{ Config = "QD$($c[0]) batch $($c[1])"; LatencyOnIops = $on; LatencyOffIops = $off; CostPercent = [math]::Round(100 * (1 - $on / $off), 1) }
    }
    $threads = foreach ($n in 1, 2) {
        $r = Invoke-VirtioBlkBenchmark -Path $dev -Threads $n -QueueDepth 32 -SubmitBatch 8 -CompleteBatch 8 -FixedBuffers -RegisteredFiles -Seconds $Seconds -NoLatency
        [pscustomobject]@{ Threads = $n; Iops = $r.Iops; AllocatedBytesPerIo = $r.AllocatedBytesPerIo }
    }
    "`n== VirtioBlk / fio IOPS ratio ($Rounds alternating rounds of $Seconds s, $(uname -r), $(nproc) CPUs) =="
    $rows | Format-Table -AutoSize | Out-String
    "== Cost of latency recording (median IOPS) =="
    $cost | Format-Table -AutoSize | Out-String
    "== Threads (QD32 batch 8, no latency) =="
    $threads | Format-Table -AutoSize | Out-String
    New-Item -ItemType Directory -Force (Split-Path $ResultPath) | Out-Null
    [pscustomobject]@{ Date = (Get-Date).ToString('o'); Kernel = (uname -r); Fio = (& $Fio --version); Rounds = $Rounds; Seconds = $Seconds; Ratios = $rows; LatencyCost = $cost; Threads = $threads } |
        ConvertTo-Json -Depth 5 | Set-Content $ResultPath
    "saved to $ResultPath"
}
finally {
    & losetup -d $dev
    Remove-Item $file -ErrorAction Ignore
}
