#Requires -Version 7.4
<#
.SYNOPSIS
    Operational checks for the virtio-blk disks of a VM, as a Pester suite: poll queues, passthrough, p99 read
    latency, no read-only disk. Runs unchanged on one VM or, through Invoke-Command, on many.
.DESCRIPTION
    Thresholds come from a data file (VirtioBlk.Checks.psd1 beside this file by default) or a hashtable, so the same
    suite serves every VM class. Everything it does is read-only: the latency probe is a short read benchmark.

    One VM (Pester 5):
        $c = New-PesterContainer -Path ./VirtioBlk.Checks.Tests.ps1 -Data @{ ConfigurationPath = './VirtioBlk.Checks.psd1' }
        Invoke-Pester -Container $c -Output Detailed

    Many VMs: examples/Invoke-VirtioBlkFleetCheck.ps1 sends this file's text and the thresholds with Invoke-Command
    and returns one row per VM and check.
#>
param(
    # A .psd1 with the thresholds (see VirtioBlk.Checks.psd1).
    [string] $ConfigurationPath,
    # The thresholds as a hashtable; wins over ConfigurationPath key by key. Through Invoke-Command this is the way in.
    [hashtable] $Configuration = @{}
)

BeforeDiscovery {
    $defaults = @{
        ModulePath = 'VirtioBlk'; Disks = @('vd*'); ExcludeDisks = @(); MinimumDisks = 1; MinimumPollQueues = 1
        ExpectPassthrough = $true; ExpectPolledPassthrough = $true; AllowReadOnly = @(); MaxP99ReadLatencyUs = 5000
        Probe = @{ Mode = 'Block'; QueueDepth = 1; BlockSize = 4096; Seconds = 2 }
        BaselinePath = ''; BaselineThresholdPercent = 10; BaselineFigures = @('Iops', 'LatP99Us', 'Errors', 'Mismatches')
    }
    if (-not $ConfigurationPath -and $PSScriptRoot -and (Test-Path (Join-Path $PSScriptRoot 'VirtioBlk.Checks.psd1'))) {
        $ConfigurationPath = Join-Path $PSScriptRoot 'VirtioBlk.Checks.psd1'
    }
    $fromFile = if ($ConfigurationPath) { Import-PowerShellDataFile -LiteralPath $ConfigurationPath } else { @{} }
    $script:Config = $defaults.Clone()
    foreach ($source in $fromFile, $Configuration) { foreach ($k in @($source.Keys)) { $script:Config[$k] = $source[$k] } }

    Import-Module $Config.ModulePath -ErrorAction Stop
    $script:CheckedDisks = @(Get-VirtioBlkDevice -Name $Config.Disks -ErrorAction SilentlyContinue |
            Where-Object { $n = $_.Name; -not ($Config.ExcludeDisks | Where-Object { $n -like $_ }) } |
            ForEach-Object { @{ Name = $_.Name; Config = $Config } })
}

Describe 'virtio-blk disks on <HostName>' -ForEach @(@{ HostName = [System.Net.Dns]::GetHostName(); Config = $Config; Count = $CheckedDisks.Count }) -Tag VirtioBlkCheck {
    # Discovery and run are separate phases: what the checks need travels in the test data (-ForEach).
    It 'has at least <Config.MinimumDisks> virtio-blk disk(s) to check' {
        $Count | Should -BeGreaterOrEqual $Config.MinimumDisks -Because 'the VM should have its virtio disks attached'
    }
}

Describe 'disk <Name>' -ForEach $CheckedDisks -Tag VirtioBlkCheck {
    BeforeAll {
        Import-Module $Config.ModulePath -ErrorAction Stop
        $Device = Get-VirtioBlkDevice -Name $Name -ErrorAction Stop
    }

    It 'is writable (not read-only)' {
        if ($Name -in $Config.AllowReadOnly) { Set-ItResult -Skipped -Because "$Name is allowed to be read-only"; return }
        $Device.ReadOnly | Should -BeFalse -Because "a read-only $Name cannot take writes; check the hypervisor's disk definition"
    }

    It 'has poll queues' {
        if ($Config.MinimumPollQueues -le 0) { Set-ItResult -Skipped -Because 'MinimumPollQueues is 0'; return }
        $Device.PollQueues | Should -BeGreaterOrEqual $Config.MinimumPollQueues -Because 'polled I/O needs virtio_blk.poll_queues=N on the kernel command line'
        $Device.IoPoll | Should -BeTrue -Because 'queue/io_poll must be 1 for IORING_SETUP_IOPOLL'
    }

    It 'has passthrough available' {
        if (-not $Config.ExpectPassthrough) { Set-ItResult -Skipped -Because 'ExpectPassthrough is off'; return }
        $Device.PassthroughAvailable | Should -BeTrue -Because 'the kernel should carry the virtio-blk passthrough series (/dev/vdXc0)'
        $report = Test-VirtioBlkPassthrough -Path $Device.Path -ErrorAction Stop
        $expected = if ($Config.ExpectPolledPassthrough) { @('Ok') } else { @('Ok', 'OkWithoutPoll') }
        $report.Verdict | Should -BeIn $expected -Because "$($report.Reason) $($report.Remedy)"
    }

    It 'keeps p99 read latency under the threshold' {
        if ($Config.MaxP99ReadLatencyUs -le 0) { Set-ItResult -Skipped -Because 'MaxP99ReadLatencyUs is 0'; return }
        $probe = @{ Mode = 'Block'; QueueDepth = 1; BlockSize = 4096; Seconds = 2 }
        foreach ($k in @($Config.Probe.Keys)) { $probe[$k] = $Config.Probe[$k] }
        $r = Invoke-VirtioBlkBenchmark -Path $Device.Path -Operation Read @probe -ErrorAction Stop
        $r.Errors | Should -Be 0 -Because "reads must not fail ($($r.FirstError))"
        $r.TotalLatency.P99Us | Should -BeLessOrEqual $Config.MaxP99ReadLatencyUs -Because "p99 of $($probe.Mode) reads at QD$($probe.QueueDepth) on $Name"
    }

    It 'holds its baseline (no figure regressed beyond the threshold)' {
        if (-not $Config.BaselinePath) { Set-ItResult -Skipped -Because 'BaselinePath is empty'; return }
        $text = Get-Content -LiteralPath $Config.BaselinePath -Raw
        $saved = if ($text.TrimStart().StartsWith('<')) { Import-Clixml -LiteralPath $Config.BaselinePath } else { $text | ConvertFrom-Json }
        $hostName = [System.Net.Dns]::GetHostName()
        $reference = @($saved | Where-Object { $_.Device -eq $Name -and ($_.HostName -eq $hostName -or $_.PSComputerName -eq $hostName -or @($saved).Count -eq 1) })
        if (-not $reference) { Set-ItResult -Skipped -Because "the baseline has no result for $Name on $hostName"; return }
        $reference = $reference[0]
        # Rerun with the baseline's own knobs, so the two compare (Compare-VirtioBlkBenchmark refuses them otherwise).
        $rerun = @{
            Mode = $reference.Mode; Operation = 'Read'; BlockSize = $reference.BlockSize; QueueDepth = $reference.QueueDepth
            SubmitBatch = $reference.SubmitBatch; CompleteBatch = $reference.CompleteBatch; Threads = $reference.Threads
            Pattern = $reference.Pattern; Seed = $reference.Seed; RampSeconds = $reference.RampSeconds
            Poll = [bool] $reference.Poll; FixedBuffers = [bool] $reference.FixedBuffers; RegisteredFiles = [bool] $reference.RegisteredFiles
            Vectored = [bool] $reference.Vectored; Buffered = [bool] $reference.Buffered
        }
        if ($reference.IoCount -gt 0) { $rerun.IoCount = $reference.IoCount } else { $rerun.Seconds = $reference.RunSeconds }
        if ($reference.RateIops -gt 0) { $rerun.RateIops = $reference.RateIops }
        if ($reference.RangeLength -gt 0) { $rerun.Range = '{0}+{1}' -f $reference.RangeOffset, $reference.RangeLength }
        if (-not $reference.LatencyRecorded) { $rerun.NoLatency = $true }
        $now = Invoke-VirtioBlkBenchmark -Path $Device.Path @rerun -ErrorAction Stop
        $regressed = @(Compare-VirtioBlkBenchmark -Reference $reference -Difference $now -Threshold $Config.BaselineThresholdPercent -ErrorAction Stop |
                Where-Object { $_.Regressed -and $_.Figure -in $Config.BaselineFigures })
        $regressed | ForEach-Object { '{0}: {1} -> {2} ({3:0.000}x)' -f $_.Figure, $_.Reference, $_.Difference, $_.Ratio } |
            Should -BeNullOrEmpty -Because "$Name must stay within $($Config.BaselineThresholdPercent)% of its baseline of $($reference.StartTime)"
    }
}
