#Requires -Version 7.4
# Test-VirtioBlkPassthrough on the host: every prerequisite is checked against the kernel's own files. The host's
# virtio disks have no passthrough node (no patched kernel), so the verdict here is Unavailable with the reason.

BeforeDiscovery {
    $script:Disks = @(Get-ChildItem /sys/block -Name | Where-Object {
            $driver = Get-Item "/sys/block/$_/device/driver" -ErrorAction Ignore
            $driver -and (Split-Path -Leaf $driver.ResolvedTarget) -eq 'virtio_blk'
        } | ForEach-Object { @{ Disk = $_ } })
}

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
}

Describe 'Test-VirtioBlkPassthrough' -Tags CI {
    It 'reports every virtio-blk disk when no -Path is given' {
        @(Test-VirtioBlkPassthrough).Disk | Should -Be @($Disks | ForEach-Object { $_.Disk })
    }

    It '<Disk>: each prerequisite matches the kernel''s files' -TestCases $Disks {
        $report = Test-VirtioBlkPassthrough "/dev/$Disk" -ErrorAction Stop
        $report | Should -BeOfType ([VirtioBlk.PowerShell.Devices.VirtioBlkPassthroughReport])
        $report.Checks.Name | Should -Be @('IoUring', 'CharDevice', 'Sqe128Ring', 'PassthroughRead', 'PollQueues')

        $disabled = Get-Content /proc/sys/kernel/io_uring_disabled -ErrorAction Ignore
        if ($disabled -eq '0' -or $null -eq $disabled) { $report.IoUring.State | Should -Be 'Passed' }

        $hasNode = (Test-Path "/sys/class/vblk-generic/${Disk}c0") -and (Test-Path "/dev/${Disk}c0")
        $report.CharDevice.State | Should -Be $(if ($hasNode) { 'Passed' } else { 'Failed' })
        if (-not $hasNode) {
            $report.CharDevice.Remedy | Should -BeLike '*kernel/README.md*'
            $report.PassthroughRead.State | Should -Be 'Skipped'
            $report.Verdict | Should -Be 'Unavailable'
            $report.PassthroughUsable | Should -BeFalse
            $report.Reason | Should -Be $report.CharDevice.Detail
        }

        $ioPoll = (Get-Content "/sys/block/$Disk/queue/io_poll" -ErrorAction Ignore) -eq '1'
        if (-not $ioPoll) {
            $report.PollQueues.State | Should -Be 'Failed'
            $report.PollQueues.Remedy | Should -BeLike '*virtio_blk.poll_queues=*'
        }
    }

    It 'the char device path and the bare name give the same disk (<Disk>)' -TestCases $Disks {
        (Test-VirtioBlkPassthrough $Disk).Path | Should -Be "/dev/$Disk"
        (Get-VirtioBlkDevice $Disk | Test-VirtioBlkPassthrough).Disk | Should -Be $Disk
    }

    It 'the table view shows the verdict and one column per prerequisite' -Skip:($Disks.Count -eq 0) {
        $text = Test-VirtioBlkPassthrough | Out-String -Width 200
        $text | Should -Match 'Disk\s+Verdict\s+IoUring\s+CharDev\s+Sqe128\s+Read\s+Poll\s+Reason'
    }
}
