#Requires -Version 7.4
# The module's one errno/condition -> ErrorRecord mapping, and the shared "is this disk in use" check. Both are
# public static classes that the I/O cmdlets build on; they are exercised here directly.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $ErrorRecords = [VirtioBlk.PowerShell.ErrorRecords]
    # The kind of operation decides read/write/device categories; the name is only for people.
    function KindOf([string] $Operation) {
        switch -Regex ($Operation) {
            'write|WRITE' { return [VirtioBlk.Core.IoOperationKind]::Write }
            'read|READ' { return [VirtioBlk.Core.IoOperationKind]::Read }
            '^FLUSH$' { return [VirtioBlk.Core.IoOperationKind]::Flush }
            '^io_uring_setup$' { return [VirtioBlk.Core.IoOperationKind]::RingSetup }
            '^io_uring_enter$' { return [VirtioBlk.Core.IoOperationKind]::RingEnter }
            '^IORING_' { return [VirtioBlk.Core.IoOperationKind]::RingRegister }
            '^open$' { return [VirtioBlk.Core.IoOperationKind]::Open }
            default { return [VirtioBlk.Core.IoOperationKind]::Other }
        }
    }
}

Describe 'ErrorRecords.FromIoUring' -Tags CI {
    It '<Errno> from <Operation> is <Id> / <Category>' -TestCases @(
        @{ Errno = 'EPERM'; Operation = 'open'; Id = 'VirtioBlkAccessDenied'; Category = 'PermissionDenied' }
        @{ Errno = 'EACCES'; Operation = 'URING_CMD'; Id = 'VirtioBlkAccessDenied'; Category = 'PermissionDenied' }
        @{ Errno = 'EROFS'; Operation = 'open'; Id = 'VirtioBlkReadOnly'; Category = 'PermissionDenied' }
        @{ Errno = 'ENOENT'; Operation = 'open'; Id = 'VirtioBlkPathNotFound'; Category = 'ObjectNotFound' }
        @{ Errno = 'ENODEV'; Operation = 'open'; Id = 'VirtioBlkPathNotFound'; Category = 'ObjectNotFound' }
        @{ Errno = 'EINVAL'; Operation = 'READ'; Id = 'VirtioBlkInvalidArgument'; Category = 'InvalidArgument' }
        @{ Errno = 'EFAULT'; Operation = 'URING_CMD'; Id = 'VirtioBlkInvalidArgument'; Category = 'InvalidArgument' }
        @{ Errno = 'EOPNOTSUPP'; Operation = 'READ'; Id = 'VirtioBlkNotSupported'; Category = 'NotImplemented' }
        @{ Errno = 'ENOTTY'; Operation = 'URING_CMD'; Id = 'VirtioBlkNotSupported'; Category = 'NotImplemented' }
        @{ Errno = 'ENOSYS'; Operation = 'io_uring_setup'; Id = 'VirtioBlkIoUringUnavailable'; Category = 'NotImplemented' }
        @{ Errno = 'EBUSY'; Operation = 'open'; Id = 'VirtioBlkDeviceBusy'; Category = 'ResourceBusy' }
        @{ Errno = 'EAGAIN'; Operation = 'io_uring_enter'; Id = 'VirtioBlkDeviceBusy'; Category = 'ResourceBusy' }
        @{ Errno = 'EIO'; Operation = 'READ_FIXED'; Id = 'VirtioBlkIoError'; Category = 'ReadError' }
        @{ Errno = 'EIO'; Operation = 'WRITEV'; Id = 'VirtioBlkIoError'; Category = 'WriteError' }
        @{ Errno = 'EIO'; Operation = 'FLUSH'; Id = 'VirtioBlkIoError'; Category = 'DeviceError' }
        @{ Errno = 'ENOSPC'; Operation = 'WRITE'; Id = 'VirtioBlkNoSpace'; Category = 'LimitsExceeded' }
        @{ Errno = 'ENOMEM'; Operation = 'IORING_REGISTER_BUFFERS'; Id = 'VirtioBlkOutOfResources'; Category = 'ResourceUnavailable' }
        @{ Errno = 'EMFILE'; Operation = 'open'; Id = 'VirtioBlkOutOfResources'; Category = 'ResourceUnavailable' }
        @{ Errno = 'ETIME'; Operation = 'io_uring_enter'; Id = 'VirtioBlkTimedOut'; Category = 'OperationTimeout' }
        @{ Errno = 'ECANCELED'; Operation = 'READ'; Id = 'VirtioBlkCanceled'; Category = 'OperationStopped' }
        @{ Errno = 'EINTR'; Operation = 'io_uring_enter'; Id = 'VirtioBlkCanceled'; Category = 'OperationStopped' }
        @{ Errno = 'EBADF'; Operation = 'io_uring_enter'; Id = 'VirtioBlkSystemCallFailed'; Category = 'NotSpecified' }
        @{ Errno = 'EBADF'; Operation = 'URING_CMD IO write'; Id = 'VirtioBlkAccessDenied'; Category = 'PermissionDenied' }
        @{ Errno = 'EBADF'; Operation = 'FLUSH'; Id = 'VirtioBlkAccessDenied'; Category = 'PermissionDenied' }
    ) {
        $exception = [VirtioBlk.Core.IoUringException]::new([VirtioBlk.Core.Errno] $Errno, (KindOf $Operation), $Operation, $null, '/dev/vdz')
        $record = $ErrorRecords::FromIoUring($exception, '/dev/vdz')
        $record.FullyQualifiedErrorId | Should -Be $Id
        $record.CategoryInfo.Category | Should -Be $Category
        $record.Exception | Should -Be $exception
        $record.TargetObject | Should -Be '/dev/vdz'
        # The message keeps the kernel's words; what to do is the recommended action.
        $record.ToString() | Should -BeLike "*$Errno*"
        $record.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }

    It 'falls back to the exception''s path as target' {
        $exception = [VirtioBlk.Core.IoUringException]::new([VirtioBlk.Core.Errno]::EACCES, 'Open', 'open', $null, '/dev/vdz')
        $ErrorRecords::FromIoUring($exception, $null).TargetObject | Should -Be '/dev/vdz'
    }

    It 'an unknown errno still maps' {
        $exception = [VirtioBlk.Core.IoUringException]::new([Enum]::ToObject([VirtioBlk.Core.Errno], 200), 'Open', 'open', $null, $null)
        $ErrorRecords::FromIoUring($exception, 'x').FullyQualifiedErrorId | Should -Be 'VirtioBlkSystemCallFailed'
    }

    It 'a failed transfer''s record names its sectors, the disk and the path, and keeps its id' {
        $status = [VirtioBlk.Core.Devices.VirtioBlkStatusException]::new([VirtioBlk.Core.Abi.VirtioBlkStatus]::IoErr, 'Read', 'URING_CMD IO read', '/dev/vdzc0')
        $null = $status.AtSectors(2016, 64, 'vdz', 'the passthrough char device /dev/vdzc0')
        $record = $ErrorRecords::FromIoUring($status, '/dev/vdz')
        $record.FullyQualifiedErrorId | Should -Be 'VirtioBlkDeviceStatus'
        $record.CategoryInfo.Category | Should -Be 'ReadError'
        $record.Exception.Message | Should -BeLike '*VIRTIO_BLK_S_IOERR*sectors 2016..2079 of vdz, through the passthrough char device /dev/vdzc0.'
        $eio = [VirtioBlk.Core.IoUringException]::new([VirtioBlk.Core.Errno]::EIO, 'Write', 'WRITE', $null, '/dev/vdz').AtSectors(4096, 8, 'vdz', 'the block device /dev/vdz')
        $ErrorRecords::FromIoUring($eio, '/dev/vdz').ToString() | Should -BeLike 'WRITE*EIO (5)*sectors 4096..4103 of vdz, through the block device /dev/vdz.'
    }

    It 'a disk that went away is VirtioBlkDiskRemoved, with the errno of the failed I/O' {
        $cause = [VirtioBlk.Core.IoUringException]::new([VirtioBlk.Core.Errno]::ENODEV, 'Read', 'URING_CMD IO read', $null, '/dev/vdzc0')
        $removed = [VirtioBlk.Core.Devices.DiskRemovedException]::new('vdz', '/dev/vdzc0', $cause, 'the I/O', 'I/O')
        $record = $ErrorRecords::FromIoUring($removed, '/dev/vdz')
        $record.FullyQualifiedErrorId | Should -Be 'VirtioBlkDiskRemoved'
        $record.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $record.Exception.Message | Should -BeLike "URING_CMD IO read '/dev/vdzc0' failed: ENODEV (19)*vdz went away during the I/O*"
        $record.ErrorDetails.RecommendedAction | Should -BeLike '*Get-VirtioBlkDevice*'
        # A disk that is there is not removed: a bad sector's EIO stays an I/O error.
        $disk = (Get-ChildItem /sys/block -ErrorAction Ignore | Select-Object -First 1).Name
        if ($disk) {
            $eio = [VirtioBlk.Core.IoUringException]::new([VirtioBlk.Core.Errno]::EIO, 'Read', 'READ', $null, "/dev/$disk")
            [VirtioBlk.Core.Devices.DiskRemoval]::IsGone($disk) | Should -BeFalse
            [VirtioBlk.Core.Devices.DiskRemoval]::Classify($eio, $disk, "/dev/$disk") | Should -Be $eio
        }
        [VirtioBlk.Core.Devices.DiskRemoval]::IsGone('vdz-not-a-disk') | Should -BeTrue
        $gone = [VirtioBlk.Core.IoUringException]::new([VirtioBlk.Core.Errno]::EIO, 'Read', 'READ', $null, '/dev/vdz-not-a-disk')
        [VirtioBlk.Core.Devices.DiskRemoval]::Classify($gone, 'vdz-not-a-disk', '/dev/vdz-not-a-disk') | Should -BeOfType VirtioBlk.Core.Devices.DiskRemovedException
    }

    It 'a cmdlet writing the record gets the fully qualified id' {
        $exception = [VirtioBlk.Core.IoUringException]::new([VirtioBlk.Core.Errno]::EACCES, 'Open', 'open', $null, '/dev/vdz')
        $record = $ErrorRecords::FromIoUring($exception, '/dev/vdz')
        function Write-Record { [CmdletBinding()] param($Record) $PSCmdlet.WriteError($Record) }
        { Write-Record $record -ErrorAction Stop } | Should -Throw -ErrorId 'VirtioBlkAccessDenied,Write-Record'
    }
}

Describe 'ErrorRecords for the module''s own conditions' -Tags CI {
    BeforeAll {
        # A 1536-byte disk of 512-byte blocks, and one with no medium, as the core's rules see them.
        $Disk = [VirtioBlk.Core.Devices.DiskGeometry]::new('vdz', 1536, 512, 131072, $false, $false)
        $NoMedium = [VirtioBlk.Core.Devices.DiskGeometry]::new('loop9', 0, 512, 131072, $false, $false)
        function Get-Refusal([scriptblock] $Rule) {
            try { & $Rule; throw 'the rule did not refuse' }
            catch [System.Management.Automation.MethodInvocationException] { $ErrorRecords::FromException($_.Exception.InnerException, 'vdz') }
        }
    }

    It '<Id> is <Category> and says what to do' -TestCases @(
        @{ Id = 'VirtioBlkDeviceNotFound'; Category = 'ObjectNotFound'; Make = { $ErrorRecords::DeviceNotFound('vdz') }; Advice = '*Get-VirtioBlkDevice*' }
        @{ Id = 'VirtioBlkNotVirtioDisk'; Category = 'InvalidArgument'; Make = { $ErrorRecords::NotVirtioDisk('loop0', $null) }; Advice = '*Get-VirtioBlkDevice*' }
        @{ Id = 'VirtioBlkPartitionNotDisk'; Category = 'InvalidArgument'; Make = { $ErrorRecords::PartitionNotDisk('vdz1', 'vdz') }; Advice = '*-Name vdz*' }
        @{ Id = 'VirtioBlkPassthroughUnavailable'; Category = 'NotInstalled'; Make = { $ErrorRecords::PassthroughUnavailable('vdz') }; Advice = '*/dev/vdz instead*' }
        @{ Id = 'VirtioBlkUnaligned'; Category = 'InvalidArgument'; Make = { Get-Refusal { [VirtioBlk.Core.Io.IoRules]::CheckDataLength($Disk, 100) } }; Advice = 'Pad the data to 512 bytes.' }
        @{ Id = 'VirtioBlkBeyondEndOfDevice'; Category = 'InvalidArgument'; Make = { Get-Refusal { [VirtioBlk.Core.Io.IoRules]::CheckSectorRange($Disk, 2, 2, 'Count') } }; Advice = '*-Sector can be at most 1*' }
        @{ Id = 'VirtioBlkBeyondEndOfDevice'; Category = 'InvalidArgument'; Make = { Get-Refusal { [VirtioBlk.Core.Io.IoRules]::ParseRange('1K+1K', $Disk) } }; Advice = '*1536 bytes*' }
        @{ Id = 'VirtioBlkInvalidArgument'; Category = 'InvalidArgument'; Make = { Get-Refusal { [VirtioBlk.Core.Io.IoRules]::ParseRange('1K-512', $Disk) } }; Advice = '*END after START*' }
        @{ Id = 'VirtioBlkNoMedium'; Category = 'ResourceUnavailable'; Make = { Get-Refusal { [VirtioBlk.Core.Io.IoRules]::CheckSectorRange($NoMedium, 0, 1, 'Count') } }; Advice = '*losetup*' }
        @{ Id = 'VirtioBlkBufferTooLarge'; Category = 'LimitsExceeded'; Make = { Get-Refusal { [VirtioBlk.Core.Io.IoRules]::CheckBufferBytes(16MB, 257, 1, 'QueueDepth') } }; Advice = '*-QueueDepth*' }
        @{ Id = 'VirtioBlkDiskInUse'; Category = 'ResourceBusy'; Make = { $ErrorRecords::DiskInUse([VirtioBlk.Core.Devices.DiskUsage]::Inspect('vda'), 'vda') }; Advice = '*Unmount*' }
        @{ Id = 'VirtioBlkSysfsUnreadable'; Category = 'ReadError'; Make = { $ErrorRecords::FromException([VirtioBlk.Core.Devices.SysfsException]::new('/sys/block/vdz/size', 'cannot be read'), 'vdz') }; Advice = '*Get-VirtioBlkDevice*' }
    ) {
        $record = & $Make
        $record.FullyQualifiedErrorId | Should -Be $Id
        $record.CategoryInfo.Category | Should -Be $Category
        $record.ErrorDetails.RecommendedAction | Should -BeLike $Advice
    }

    It 'Create makes an exception of the category''s .NET type: <Category> -> <Type>' -TestCases @(
        @{ Category = 'ObjectNotFound'; Type = [System.Management.Automation.ItemNotFoundException] }
        @{ Category = 'InvalidArgument'; Type = [System.ArgumentException] }
        @{ Category = 'PermissionDenied'; Type = [System.UnauthorizedAccessException] }
        @{ Category = 'NotImplemented'; Type = [System.NotSupportedException] }
        @{ Category = 'WriteError'; Type = [System.IO.IOException] }
        @{ Category = 'ResourceBusy'; Type = [System.InvalidOperationException] }
    ) {
        $record = $ErrorRecords::Create('VirtioBlkTest', $Category, 'Something happened.', 'x', 'Do this.', $null)
        $record.Exception | Should -BeOfType $Type
        $record.ToString() | Should -Be 'Something happened.'
        $record.Exception.Message | Should -Be 'Something happened.'
        $record.ErrorDetails.RecommendedAction | Should -Be 'Do this.'
    }
}

Describe 'DiskUsage.Inspect' -Tags CI {
    BeforeDiscovery {
        $script:RootDisk = foreach ($line in Get-Content /proc/self/mountinfo) {
            $f = $line -split ' '
            if ($f[4] -eq '/') {
                $link = Get-Item "/sys/dev/block/$($f[2])" -ErrorAction Ignore
                if ($link) { Split-Path -Leaf $link.ResolvedTarget }
            }
        }
        $script:RootIsVirtioDisk = $RootDisk -and (Test-Path "/sys/block/$RootDisk/device/driver") -and
            ((Split-Path -Leaf (Get-Item "/sys/block/$RootDisk/device/driver").ResolvedTarget) -eq 'virtio_blk')
    }

    It 'the disk mounted at / is in use, by its mount (<RootDisk>)' -Skip:(-not $RootIsVirtioDisk) -TestCases @{ RootDisk = $RootDisk } {
        $usage = [VirtioBlk.Core.Devices.DiskUsage]::Inspect($RootDisk)
        $usage.IsInUse | Should -BeTrue
        $usage.MountPoints | Should -Contain '/'
        $usage.Describe() | Should -BeLike '*mounted at / *'
        [VirtioBlk.Core.Devices.DiskUsage]::Inspect("/dev/$RootDisk").IsInUse | Should -BeTrue
    }

    It 'WriteRefusal refuses the disk mounted at / with VirtioBlkDiskInUse' -Skip:(-not $RootIsVirtioDisk) -TestCases @{ RootDisk = $RootDisk } {
        $refusal = $ErrorRecords::WriteRefusal($RootDisk, "/dev/$RootDisk")
        $refusal.FullyQualifiedErrorId | Should -Be 'VirtioBlkDiskInUse'
        $refusal.CategoryInfo.Category | Should -Be 'ResourceBusy'
        $refusal.TargetObject | Should -Be "/dev/$RootDisk"
        $refusal.ToString() | Should -BeLike "*mounted at / (/dev/$RootDisk)*"
    }

    It 'WriteRefusal is null for a disk nothing uses' {
        $ErrorRecords::WriteRefusal('vdnope', 'vdnope') | Should -BeNullOrEmpty
    }

    It 'a name that is no block device is not in use' {
        $usage = [VirtioBlk.Core.Devices.DiskUsage]::Inspect('vdnope')
        $usage.IsInUse | Should -BeFalse
        $usage.Describe() | Should -Be 'not in use'
    }

    It 'an unused loop device is not in use' -Skip:(-not (Test-Path /sys/block/loop7)) {
        $mounted = (Get-Content /proc/self/mountinfo) -match ' 7:7 '
        if ($mounted) { Set-ItResult -Skipped -Because 'loop7 is mounted here' }
        [VirtioBlk.Core.Devices.DiskUsage]::Inspect('loop7').IsInUse | Should -BeFalse
    }
}
