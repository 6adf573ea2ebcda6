#Requires -Version 7.4
# The bad-input cases of Read-VirtioBlkSector, Write-VirtioBlkSector and Test-VirtioBlkPassthrough: each one a
# non-terminating ErrorRecord with a real category and a stable id, a message that says what to do, and no
# exception type or stack trace in what the user sees.

BeforeDiscovery {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $script:Skip = -not $CanMakeLoops
    $script:RootDisk = Get-ChildItem /sys/block -Name | Where-Object { $_ -like 'vd*' -and -not (Test-Path "/dev/${_}c0") } | Select-Object -First 1
}

BeforeAll {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    if ($CanMakeLoops) {
        $L512 = New-TestLoop -Size 4MB -SectorSize 512
        $L4K = New-TestLoop -Size 4MB -SectorSize 4096
        $LPart = New-TestLoop -Size 4MB -Partitioned
        $Empty = Join-Path ([IO.Path]::GetTempPath()) "vb-empty-$PID.bin"
        Set-Content -LiteralPath $Empty -Value ([byte[]]::new(0)) -AsByteStream
    }

    # Runs the command, returns its one error; the command must report, not throw.
    function Get-OneError([scriptblock] $Command) {
        $ErrorActionPreference = 'Continue'   # Invoke-Tests.ps1 runs with Stop; these errors must stay non-terminating
        $all = @(& $Command 2>&1)
        $failures = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        @($all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }) | Should -BeNullOrEmpty
        $failures.Count | Should -Be 1
        $failures[0]
    }
}

AfterAll {
    if ($CanMakeLoops) {
        Remove-TestLoop $L512; Remove-TestLoop $L4K; Remove-TestLoop $LPart
        if ($Empty) { Remove-Item $Empty -ErrorAction Ignore }
    }
}

Describe 'Read-VirtioBlkSector errors' -Tags CI {
    It '<Name>: <Id> / <Category>' -Skip:$Skip -TestCases @(
        @{ Name = 'missing path'; Id = 'VirtioBlkPathNotFound'; Category = 'ObjectNotFound'; Run = { Read-VirtioBlkSector /dev/vb-no-such-disk 0 @args } }
        @{ Name = 'regular file'; Id = 'VirtioBlkNotBlockDevice'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector /etc/hostname 0 @args } }
        @{ Name = 'directory'; Id = 'VirtioBlkNotBlockDevice'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector /tmp 0 @args } }
        @{ Name = 'other char device'; Id = 'VirtioBlkNotBlockDevice'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector /dev/null 0 @args } }
        @{ Name = 'partition'; NeedsPartition = $true; Id = 'VirtioBlkPartitionNotDisk'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector "$($LPart.Path)p1" 0 @args } }
        @{ Name = 'passthrough on a loop device'; Id = 'VirtioBlkNotVirtioDisk'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L512.Path 0 -Mode Passthrough @args } }
        @{ Name = 'passthrough + vectored + fixed buffer'; Id = 'VirtioBlkUnsupportedCombination'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L512.Path 0 -Mode Passthrough -Vectored -FixedBuffer @args } }
        @{ Name = '-Poll without poll queues'; Id = 'VirtioBlkPollUnavailable'; Category = 'NotEnabled'; Run = { Read-VirtioBlkSector $L512.Path 0 -Poll @args } }
        @{ Name = '-IoPoll alias without poll queues'; Id = 'VirtioBlkPollUnavailable'; Category = 'NotEnabled'; Run = { Read-VirtioBlkSector $L512.Path 0 -Hipri -Mode Block @args } }
        @{ Name = 'unaligned sector'; Id = 'VirtioBlkUnaligned'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L4K.Path 3 @args }; Says = '*Use -Sector 0 or 8*' }
        @{ Name = 'unaligned count'; Id = 'VirtioBlkUnaligned'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L4K.Path 8 -Count 12 @args }; Says = '*Use -Count 8 or 16*' }
        @{ Name = 'count below one block'; Id = 'VirtioBlkUnaligned'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L4K.Path 0 -Count 1 @args }; Says = '*Use -Count 8.*' }

        @{ Name = 'oversized count'; Id = 'VirtioBlkLengthTooLarge'; Category = 'LimitsExceeded'; Run = { Read-VirtioBlkSector $L512.Path 0 -Count ([int]::MaxValue) @args } }
        @{ Name = 'sector past the end'; Id = 'VirtioBlkBeyondEndOfDevice'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L512.Path 8192 @args } }
        @{ Name = 'count past the end'; Id = 'VirtioBlkBeyondEndOfDevice'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L4K.Path 8184 -Count 16 @args }; Says = '*at most 8176*' }
        @{ Name = 'largest sector'; Id = 'VirtioBlkBeyondEndOfDevice'; Category = 'InvalidArgument'; Run = { Read-VirtioBlkSector $L512.Path ([uint64]::MaxValue) @args } }
    ) {
        if ($NeedsPartition -and -not (Test-Path "$($LPart.Path)p1")) {
            Set-ItResult -Skipped -Because 'this kernel made no partition of a loop device with an MBR (no CONFIG_MSDOS_PARTITION or no partscan)'
            return
        }
        $record = Get-OneError $Run
        $record.FullyQualifiedErrorId | Should -Be "$Id,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand"
        $record.CategoryInfo.Category | Should -Be $Category
        $record.ToString() | Should -Not -Match 'Exception|\bat VirtioBlk\.'
        if ($Says) { "$record $($record.ErrorDetails.RecommendedAction)" | Should -BeLike $Says }
    }

    It 'the root disk that refuses opens: VirtioBlkAccessDenied / PermissionDenied (<RootDisk>)' -Skip:(-not $RootDisk) -TestCases @{ RootDisk = $RootDisk } {
        $failures = $null
        $r = Read-VirtioBlkSector "/dev/$RootDisk" 0 -ErrorAction SilentlyContinue -ErrorVariable failures
        if ($r) { Set-ItResult -Skipped -Because "/dev/$RootDisk can be opened here"; return }
        $failures[0].FullyQualifiedErrorId | Should -Be 'VirtioBlkAccessDenied,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
        $failures[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
    }

    It 'passthrough on a virtio disk without a char device: VirtioBlkPassthroughUnavailable / NotInstalled, pointing to kernel/README.md (<RootDisk>)' -Skip:(-not $RootDisk) -TestCases @{ RootDisk = $RootDisk } {
        $record = Get-OneError { Read-VirtioBlkSector "/dev/$RootDisk" 0 -Mode Passthrough @args }
        $record.FullyQualifiedErrorId | Should -Be 'VirtioBlkPassthroughUnavailable,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
        $record.CategoryInfo.Category | Should -Be 'NotInstalled'
        "$record $($record.ErrorDetails.RecommendedAction)" | Should -BeLike '*kernel/README.md*'
    }

    It '<Name> is refused at binding, as PowerShell refuses any out-of-range argument' -Skip:$Skip -TestCases @(
        @{ Name = 'zero count'; Run = { Read-VirtioBlkSector $L512.Path 0 -Count 0 }; Id = 'ParameterArgumentValidationError' }
        @{ Name = 'negative count'; Run = { Read-VirtioBlkSector $L512.Path 0 -Count -8 }; Id = 'ParameterArgumentValidationError' }
        @{ Name = 'a fractional sector (never rounded)'; Run = { Read-VirtioBlkSector $L512.Path 2.5 }; Id = 'ParameterArgumentTransformationError' }
        @{ Name = 'a fractional count'; Run = { Read-VirtioBlkSector $L512.Path 0 -Count 1.5 }; Id = 'ParameterArgumentTransformationError' }
    ) {
        $Run | Should -Throw -ErrorId "$Id,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand"
    }

    It '-ErrorAction Stop makes the first error terminating, with the same id' -Skip:$Skip {
        { Read-VirtioBlkSector $L4K.Path 3 -ErrorAction Stop } | Should -Throw -ErrorId 'VirtioBlkUnaligned,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
    }
}

Describe 'Write-VirtioBlkSector errors' -Tags CI {
    It '<Name>: <Id> / <Category>' -Skip:$Skip -TestCases @(
        @{ Name = 'missing path'; Id = 'VirtioBlkPathNotFound'; Category = 'ObjectNotFound'; Run = { Write-VirtioBlkSector /dev/vb-no-such-disk 0 -InputObject ([byte[]]::new(512)) -Confirm:$false @args } }
        @{ Name = 'regular file'; Id = 'VirtioBlkNotBlockDevice'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector /etc/hostname 0 -InputObject ([byte[]]::new(512)) -Confirm:$false @args } }
        @{ Name = 'passthrough on a loop device'; Id = 'VirtioBlkNotVirtioDisk'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L512.Path 0 -InputObject ([byte[]]::new(512)) -Mode Passthrough -Confirm:$false @args } }
        @{ Name = 'passthrough + vectored + fixed buffer'; Id = 'VirtioBlkUnsupportedCombination'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L512.Path 0 -InputObject ([byte[]]::new(512)) -Mode Passthrough -Vectored -FixedBuffer -Confirm:$false @args } }
        @{ Name = '-Poll without poll queues'; Id = 'VirtioBlkPollUnavailable'; Category = 'NotEnabled'; Run = { Write-VirtioBlkSector $L512.Path 0 -InputObject ([byte[]]::new(512)) -Poll -Confirm:$false @args } }
        @{ Name = 'empty input'; Id = 'VirtioBlkInvalidLength'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L512.Path 0 -InputObject @() -Confirm:$false @args } }
        @{ Name = 'empty source file'; Id = 'VirtioBlkInvalidLength'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L512.Path 0 -SourcePath $Empty -Confirm:$false @args } }
        @{ Name = 'missing source file'; Id = 'VirtioBlkSourceUnreadable'; Category = 'ObjectNotFound'; Run = { Write-VirtioBlkSector $L512.Path 0 -SourcePath /tmp/vb-no-such-file.bin -Confirm:$false @args } }
        @{ Name = 'length not a multiple of the block'; Id = 'VirtioBlkUnaligned'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L4K.Path 0 -InputObject ([byte[]]::new(5000)) -Confirm:$false @args }; Says = '*Trim the data to 4096 bytes or pad it to 8192*' }
        @{ Name = 'one sector on a 4 KiB disk'; Id = 'VirtioBlkUnaligned'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L4K.Path 0 -InputObject ([byte[]]::new(512)) -Confirm:$false @args } }
        @{ Name = 'unaligned sector'; Id = 'VirtioBlkUnaligned'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L4K.Path 4 -InputObject ([byte[]]::new(4096)) -Confirm:$false @args } }
        @{ Name = 'past the end'; Id = 'VirtioBlkBeyondEndOfDevice'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector $L512.Path 8191 -InputObject ([byte[]]::new(1024)) -Confirm:$false @args } }
        @{ Name = 'partition'; NeedsPartition = $true; Id = 'VirtioBlkPartitionNotDisk'; Category = 'InvalidArgument'; Run = { Write-VirtioBlkSector "$($LPart.Path)p1" 0 -InputObject ([byte[]]::new(512)) -Confirm:$false @args } }
    ) {
        if ($NeedsPartition -and -not (Test-Path "$($LPart.Path)p1")) {
            Set-ItResult -Skipped -Because 'this kernel made no partition of a loop device with an MBR (no CONFIG_MSDOS_PARTITION or no partscan)'
            return
        }
        $record = Get-OneError $Run
        $record.FullyQualifiedErrorId | Should -Be "$Id,VirtioBlk.PowerShell.WriteVirtioBlkSectorCommand"
        $record.CategoryInfo.Category | Should -Be $Category
        $record.ToString() | Should -Not -Match 'Exception|\bat VirtioBlk\.'
        if ($Says) { "$record $($record.ErrorDetails.RecommendedAction)" | Should -BeLike $Says }
    }
}

Describe 'Test-VirtioBlkPassthrough errors' -Tags CI {
    It '<Name>: <Id> / <Category>, and the next path is still tested' -TestCases @(
        @{ Name = 'missing path'; Path = '/dev/vb-no-such-disk'; Id = 'VirtioBlkPathNotFound'; Category = 'ObjectNotFound' }
        @{ Name = 'regular file'; Path = '/etc/hostname'; Id = 'VirtioBlkNotBlockDevice'; Category = 'InvalidArgument' }
        @{ Name = 'a loop device'; Path = 'loop-from-setup'; Id = 'VirtioBlkNotVirtioDisk'; Category = 'InvalidArgument' }
    ) {
        if ($Path -eq 'loop-from-setup') {
            if (-not $CanMakeLoops) { Set-ItResult -Skipped -Because $NoLoopReason; return }
            $Path = $L512.Path
        }
        $disk = Get-ChildItem /sys/block -Name | Where-Object { $_ -like 'vd*' } | Select-Object -First 1
        $failures = $null
        $reports = Test-VirtioBlkPassthrough -Path (@($Path) + @($disk | Where-Object { $_ })) -ErrorAction SilentlyContinue -ErrorVariable failures
        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -Be "$Id,VirtioBlk.PowerShell.TestVirtioBlkPassthroughCommand"
        $failures[0].CategoryInfo.Category | Should -Be $Category
        if ($disk) { $reports.Disk | Should -Be $disk }
    }
}

Describe 'ErrorRecords for device status and io_uring policy' -Tags CI {
    It 'virtio status <Status> from <Operation> is VirtioBlkDeviceStatus / <Category>' -TestCases @(
        @{ Status = 'IoErr'; Operation = 'URING_CMD IO read'; Category = 'ReadError' }
        @{ Status = 'IoErr'; Operation = 'URING_CMD IO write'; Category = 'WriteError' }
        @{ Status = 'IoErr'; Operation = 'FLUSH'; Category = 'DeviceError' }
        @{ Status = 'Unsupported'; Operation = 'URING_CMD IO read'; Category = 'NotImplemented' }
    ) {
        $e = [VirtioBlk.Core.Devices.VirtioBlkStatusException]::new([VirtioBlk.Core.Abi.VirtioBlkStatus] $Status, $(if ($Operation -match 'write') { 'Write' } elseif ($Operation -match 'read') { 'Read' } else { 'Flush' }), $Operation, '/dev/vdzc0')
        $record = [VirtioBlk.PowerShell.ErrorRecords]::FromIoUring($e, '/dev/vdzc0')
        $record.FullyQualifiedErrorId | Should -Be 'VirtioBlkDeviceStatus'
        $record.CategoryInfo.Category | Should -Be $Category
        $record.ToString() | Should -BeLike '*virtio status*'
    }

    It 'io_uring disabled by sysctl is VirtioBlkIoUringDisabled / NotEnabled and names the sysctl' {
        $record = [VirtioBlk.PowerShell.ErrorRecords]::IoUringDisabled(2, 'x', $null)
        $record.FullyQualifiedErrorId | Should -Be 'VirtioBlkIoUringDisabled'
        $record.CategoryInfo.Category | Should -Be 'NotEnabled'
        $record.ErrorDetails.RecommendedAction | Should -BeLike '*sysctl kernel.io_uring_disabled=0*'
    }

    It 'an ArgumentException from the core is VirtioBlkInvalidArgument, not a sysfs error' {
        [VirtioBlk.PowerShell.ErrorRecords]::FromException([ArgumentException]::new('bad'), 'x').FullyQualifiedErrorId | Should -Be 'VirtioBlkInvalidArgument'
    }
}
