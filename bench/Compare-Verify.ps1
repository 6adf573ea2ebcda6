#Requires -Version 7.4
<#
.SYNOPSIS
    What verification costs at QD32: plain vs verified runs alternately on one loop device, medians of -Rounds.
    Run by hand, as root, after a build:  dotnet pwsh -NoProfile -File bench/Compare-Verify.ps1
.DESCRIPTION
    A loop device over a tmpfs file, 4 KiB blocks, QD32 with batches of 8, registered files and buffers, one thread:
      read vs verify pass   page-cache reads (-Buffered, cache warmed: CPU-bound) against -Operation Verify over
                            the same blocks (each read block is checksummed and its header checked);
      write vs write -Verify O_DIRECT sequential writes against verified ones (each block gets a header and a
                            checksum and is read back and checked: two I/Os per block).
    Figures: IOPS, blocks per second (a verified write moves two I/Os per block) and CPU ns per I/O (RUSAGE_THREAD).
#>
param(
    [int] $Rounds = 5,
    [double] $Seconds = 2,
    [string] $ResultPath = (Join-Path $PSScriptRoot 'results/compare-verify.json')
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
if ((id -u) -ne '0') { throw 'Run as root: the bench creates a loop device.' }
Import-Module (Join-Path $PSScriptRoot '../VirtioBlk.psd1') -Force
$file = "/dev/shm/vblk-verify-$PID.img"
& truncate -s 256M $file
$dev = (& losetup --find --show $file).Trim()
Import-Module (Join-Path $PSScriptRoot 'BenchStats.psm1') -Force
$common = @{ Path = $dev; QueueDepth = 32; SubmitBatch = 8; CompleteBatch = 8; FixedBuffers = $true; RegisteredFiles = $true; NoLatency = $true; Seconds = $Seconds; RampSeconds = 0.5; Pattern = 'Sequential'; Seed = 3 }
function Figures($r) {
    $blocks = if ($r.Verify -and $r.Operation -eq 'Write') { $r.BlocksChecked / $r.Seconds } else { $r.Iops }
    [pscustomobject]@{ Iops = $r.Iops; BlocksPerSecond = $blocks; CpuNsPerIo = ($r.UserCpuSeconds + $r.SystemCpuSeconds) * 1e9 / [math]::Max(1, $r.TotalIos); Mismatches = $r.Mismatches }
}
try {
    # Lay down verified blocks for the verify pass, then warm the page cache.
    $null = Invoke-VirtioBlkBenchmark -Path $dev -Operation Write -Verify -Pattern Sequential -Seed 3 -QueueDepth 32 -SubmitBatch 8 -CompleteBatch 8 -IoCount (256MB / 4096) -Confirm:$false
    & dd if=$dev of=/dev/null bs=1M status=none
    $pairs = @(
        @{ Name = 'read vs verify pass (page cache)'; Plain = @{ Operation = 'Read'; Buffered = $true }; Checked = @{ Operation = 'Verify'; Buffered = $true } }
        @{ Name = 'write vs write -Verify (O_DIRECT)'; Plain = @{ Operation = 'Write'; Confirm = $false }; Checked = @{ Operation = 'Write'; Verify = $true; Confirm = $false } }
    )
    $out = foreach ($p in $pairs) {
        $runs = for ($i = 1; $i -le $Rounds; $i++) {
            $first, $second = if ($i % 2) { 'Plain', 'Checked' } else { 'Checked', 'Plain' }
            $res = @{}
            foreach ($k in $first, $second) { $x = $p[$k]; $res[$k] = Figures (Invoke-VirtioBlkBenchmark @common @x) }
            [pscustomobject]@{ Round = $i; Plain = $res.Plain; Checked = $res.Checked; IopsRatio = $res.Checked.Iops / $res.Plain.Iops; BlockRatio = $res.Checked.BlocksPerSecond / $res.Plain.BlocksPerSecond }
        }
        [pscustomobject]@{
            Pair = $p.Name
            PlainIops = [math]::Round((Get-Median $runs.Plain.Iops)); CheckedIops = [math]::Round((Get-Median $runs.Checked.Iops))
            IopsRatio = '{0:0.00}' -f (Get-Median $runs.IopsRatio); BlocksRatio = '{0:0.00}' -f (Get-Median $runs.BlockRatio)
            PlainCpuNsPerIo = [math]::Round((Get-Median $runs.Plain.CpuNsPerIo)); CheckedCpuNsPerIo = [math]::Round((Get-Median $runs.Checked.CpuNsPerIo))
            Mismatches = ($runs.Checked.Mismatches | Measure-Object -Sum).Sum
            Runs = $runs
        }
    }
    $out | Format-Table Pair, PlainIops, CheckedIops, IopsRatio, BlocksRatio, PlainCpuNsPerIo, CheckedCpuNsPerIo, Mismatches -AutoSize | Out-String -Width 200 | Write-Host
    Write-Host "load average at the end: $((Get-Content /proc/loadavg))"
    [pscustomobject]@{ Date = (Get-Date).ToString('o'); LoadAverage = (Get-Content /proc/loadavg); Rounds = $Rounds; Results = $out } | ConvertTo-Json -Depth 6 | Set-Content $ResultPath
}
finally {
    & losetup -d $dev
    Remove-Item $file -ErrorAction Ignore
}
