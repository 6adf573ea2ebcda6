#Requires -Version 7.4
# Issue 12 section 2 through the module's cmdlets, on the test VM's disk matrix (tests/vm/README.md): I/O errors
# (vbfault), a read-only disk (vbro), 4 KiB logical blocks (vb4k), the end of a 16 TiB disk (vbnull), a disk removed
# mid-I/O (Removal.Vm.Tests.ps1), a flush that reaches the device (QEMU's flush_operations) and a
# two-thread benchmark (vbmq), each on both paths and, where it applies, polled. The C witness
# (tests/vm/guest-matrix.sh, guest-removal.sh) shows the same at the syscall level.
# Tagged VM (the debug kernel's boot leaves them to the C witness: pwsh there is too slow); on a host without
# the guest's disks every test skips with the reason.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    $Manifest = Join-Path $RepoRoot 'VirtioBlk.psd1'
    Import-Module $Manifest -Force -ErrorAction Stop
    . "$PSScriptRoot/VmDisks.ps1"   # disks by serial, QMP, and the capture/fd helpers both fault files use
}

Describe 'I/O errors (vbfault): one specific ErrorRecord, no partial success' -Tags VM {
    # vbfault fails every read touching 512-byte sectors 2048..2055 and every write touching 4096..4103 (blkdebug).
    It 'a <Mode> read across sectors 2048..2055 (Poll=<Poll>) ends with one ErrorRecord naming the device, the sectors and the path, and no output' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Mode = $m; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vbfault
        if (-not $disk) { return }
        $device = if ($Mode -eq 'Passthrough') { $disk.CharDevicePath } else { $disk.Path }
        $r = Invoke-Captured { Read-VirtioBlkSector $disk.Path -Sector 2016 -Count 64 -Mode $Mode -Poll:$Poll }
        $r.Output | Should -BeNullOrEmpty -Because 'a failed read returns nothing, not a partial result'
        $r.Errors.Count | Should -Be 1
        $e = $r.Errors[0]
        $e.CategoryInfo.Category | Should -Be 'ReadError'
        $text = $e.Exception.Message
        $text | Should -BeLike "*$device*"
        if ($Mode -eq 'Passthrough') {
            $e.FullyQualifiedErrorId | Should -Be 'VirtioBlkDeviceStatus,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
            $text | Should -BeLike '*VIRTIO_BLK_S_IOERR*'
            $text | Should -BeLike '*URING_CMD*'
        }
        else {
            $e.FullyQualifiedErrorId | Should -Be 'VirtioBlkIoError,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
            $text | Should -BeLike '*EIO (5)*'
            $text | Should -Not -BeLike '*URING_CMD*'
        }
        $range = Get-NamedSectorRange $text
        $range | Should -Not -BeNullOrEmpty -Because "the message names the failed sectors: $text"
        $range.First | Should -BeLessOrEqual 2048
        $range.Last | Should -BeGreaterOrEqual 2055
        $range.First | Should -BeGreaterOrEqual 2016
        $range.Last | Should -BeLessOrEqual 2079
    }

    It 'a <Mode> write across sectors 4096..4103 (Poll=<Poll>) ends with one ErrorRecord and nothing reported written' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Mode = $m; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vbfault
        if (-not $disk) { return }
        $device = if ($Mode -eq 'Passthrough') { $disk.CharDevicePath } else { $disk.Path }
        $data = New-Pattern (32KB) 4064
        $r = Invoke-Captured { Write-VirtioBlkSector $disk.Path -Sector 4064 -InputObject $data -Mode $Mode -Poll:$Poll -PassThru -Confirm:$false }
        $r.Output | Should -BeNullOrEmpty -Because 'a failed write reports nothing written'
        $r.Errors.Count | Should -Be 1
        $e = $r.Errors[0]
        $e.CategoryInfo.Category | Should -Be 'WriteError'
        $e.FullyQualifiedErrorId | Should -Be ("{0},VirtioBlk.PowerShell.WriteVirtioBlkSectorCommand" -f ($Mode -eq 'Passthrough' ? 'VirtioBlkDeviceStatus' : 'VirtioBlkIoError'))
        $e.Exception.Message | Should -BeLike "*$device*"
        $e.Exception.Message | Should -BeLike ($Mode -eq 'Passthrough' ? '*VIRTIO_BLK_S_IOERR*' : '*EIO (5)*')
        $range = Get-NamedSectorRange $e.Exception.Message
        $range | Should -Not -BeNullOrEmpty -Because "the message names the failed sectors: $($e.Exception.Message)"
        $range.First | Should -BeLessOrEqual 4096
        $range.Last | Should -BeGreaterOrEqual 4103
        $range.First | Should -BeGreaterOrEqual 4064
        $range.Last | Should -BeLessOrEqual 4127
    }

    It 'the sectors around the failing ranges work on <Mode> (Poll=<Poll>): reads before and after 2048..2055, writes before and after 4096..4103' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Mode = $m; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vbfault
        if (-not $disk) { return }
        (Read-VirtioBlkSector $disk.Path -Sector 0 -Count 2048 -Mode $Mode -Poll:$Poll -ErrorAction Stop).Length | Should -Be 1MB
        (Read-VirtioBlkSector $disk.Path -Sector 2056 -Count 64 -Mode $Mode -Poll:$Poll -ErrorAction Stop).Length | Should -Be 32KB
        $seed = 40 + 2 * [int]($Mode -eq 'Block') + [int]$Poll
        foreach ($sector in 4088, 4104) {
            $data = New-Pattern 4096 ($seed * 10000 + $sector)
            $w = Write-VirtioBlkSector $disk.Path -Sector $sector -InputObject $data -Mode $Mode -Poll:$Poll -PassThru -Confirm:$false -ErrorAction Stop
            $w.Count | Should -Be 8
            Test-SameBytes $data ([byte[]] (Read-VirtioBlkSector $disk.Path -Sector $sector -Count 8 -Mode Block -ErrorAction Stop).Bytes) | Should -BeTrue
        }
    }

    It 'a <Operation> benchmark over the failing range on <Mode> (Poll=<Poll>) counts the failures as errors, reports the first and finishes' -TestCases @(
        foreach ($o in 'Read', 'Write') { foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Operation = $o; Mode = $m; Poll = $p } } } }
    ) {
        $disk = Get-FaultDisk vbfault
        if (-not $disk) { return }
        # 16 blocks of 4 KiB from the failing range's first sector: block 0 fails, the 15 others work. A sequential
        # run of 200 I/Os visits block 0 13 times (I/Os 0, 16, ..., 192).
        $start = if ($Operation -eq 'Read') { 2048 * 512 } else { 4096 * 512 }
        # The guest's block layer merges neighbouring sequential I/Os of one submission into one request, which then
        # fails whole (the block path saw 52 = 13 x -SubmitBatch 4 errors): nomerges=2 keeps one request per I/O,
        # so the count is exact on both paths.
        $nomerges = "/sys/block/$($disk.Name)/queue/nomerges"
        $saved = (Get-Content $nomerges).Trim()
        Set-Content $nomerges 2
        try {
            $r = Invoke-Captured {
                Invoke-VirtioBlkBenchmark $disk.Path -Mode $Mode -Operation $Operation -Range "$start+64KiB" -Pattern Sequential -BlockSize 4096 `
                    -IoCount 200 -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 1 -Poll:$Poll -Confirm:$false
            }
        }
        finally { Set-Content $nomerges $saved }
        $r.Errors | ForEach-Object { "$_" } | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 1
        $b = $r.Output[0]
        $b.Errors | Should -Be 13
        $b.TotalIos | Should -Be 187 -Because 'a failed I/O is never counted as a completion'
        $b.FirstError | Should -BeLike ($Mode -eq 'Passthrough' ? '*VIRTIO_BLK_S_IOERR*' : '*EIO (5)*')
        @($r.Warnings | Where-Object { "$_" -like '*13 of 200 I/Os*failed*' }).Count | Should -Be 1
    }
}

Describe 'Read-only disk (vbro): writes refused before submission' -Tags VM {
    It 'a <Mode> write (Force=<Force>) is refused as read-only and never reaches QEMU' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($f in $false, $true) { @{ Mode = $m; Force = $f } } }
    ) {
        $disk = Get-FaultDisk vbro
        if (-not $disk) { return }
        $disk.ReadOnly | Should -BeTrue
        $qmp = Test-VbkQmp
        if ($qmp) { $before = Get-VbkBlockStats vbro; $before.rd_operations | Should -Not -BeNullOrEmpty }
        $r = Invoke-Captured { Write-VirtioBlkSector $disk.Path -Sector 0 -InputObject ([byte[]]::new(4096)) -Mode $Mode -Force:$Force -PassThru -Confirm:$false }
        $r.Output | Should -BeNullOrEmpty
        $r.Errors.Count | Should -Be 1
        $r.Errors[0].FullyQualifiedErrorId | Should -Be 'VirtioBlkReadOnly,VirtioBlk.PowerShell.WriteVirtioBlkSectorCommand'
        $r.Errors[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
        $r.Errors[0].Exception.Message | Should -BeLike "*$($disk.Name)*read-only*"

        $b = Invoke-Captured { Invoke-VirtioBlkBenchmark $disk.Path -Mode $Mode -Operation Write -IoCount 10 -QueueDepth 2 -Force:$Force -Confirm:$false }
        $b.Output | Should -BeNullOrEmpty
        $b.Errors.Count | Should -Be 1
        $b.Errors[0].FullyQualifiedErrorId | Should -Be 'VirtioBlkReadOnly,VirtioBlk.PowerShell.Commands.InvokeVirtioBlkBenchmarkCommand'
        if ($qmp) {
            $after = Get-VbkBlockStats vbro
            $after.wr_operations | Should -Be $before.wr_operations -Because 'nothing was submitted'
            $after.failed_wr_operations | Should -Be $before.failed_wr_operations
            $after.invalid_wr_operations | Should -Be $before.invalid_wr_operations
        }
    }

    It 'reads work on <Mode> (Poll=<Poll>)' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Mode = $m; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vbro
        if (-not $disk) { return }
        $r = Read-VirtioBlkSector $disk.Path -Sector 8 -Count 64 -Mode $Mode -Poll:$Poll -ErrorAction Stop
        $r.Mode | Should -Be $Mode
        $r.Length | Should -Be 32KB
        $b = Invoke-VirtioBlkBenchmark $disk.Path -Mode $Mode -IoCount 100 -QueueDepth 4 -Poll:$Poll -ErrorAction Stop
        $b.Errors | Should -Be 0
        $b.TotalIos | Should -Be 100
    }
}

Describe '4 KiB logical blocks (vb4k)' -Tags VM {
    It 'passthrough writes read back through the block path and the reverse at the <Where> block (Poll=<Poll>)' -TestCases @(
        foreach ($w in 'first', 'middle', 'last') { foreach ($p in $false, $true) { @{ Where = $w; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vb4k
        if (-not $disk) { return }
        $disk.LogicalBlockSize | Should -Be 4096
        $sector = [uint64] $(switch ($Where) { 'first' { 0 } 'middle' { [math]::Floor($disk.Sectors / 2 / 8) * 8 } 'last' { $disk.Sectors - 8 } })
        $seed = [int]($sector % 100000) + 7 * [int]$Poll

        $one = New-Pattern 4096 $seed
        Write-VirtioBlkSector $disk.CharDevicePath -Sector $sector -InputObject $one -Mode Passthrough -Poll:$Poll -Confirm:$false -ErrorAction Stop
        $viaBlock = Read-VirtioBlkSector $disk.Path -Sector $sector -Count 8 -Mode Block -Poll:$Poll -ErrorAction Stop
        Test-SameBytes $one ([byte[]] $viaBlock.Bytes) | Should -BeTrue

        $two = New-Pattern 4096 ($seed + 1)
        Write-VirtioBlkSector $disk.Path -Sector $sector -InputObject $two -Mode Block -Poll:$Poll -Confirm:$false -ErrorAction Stop
        $viaPt = Read-VirtioBlkSector $disk.Path -Sector $sector -Count 8 -Mode Passthrough -Poll:$Poll -ErrorAction Stop
        $viaPt.Mode | Should -Be 'Passthrough'
        $viaPt.Sector | Should -Be $sector
        $viaPt.Count | Should -Be 8
        Test-SameBytes $two ([byte[]] $viaPt.Bytes) | Should -BeTrue
    }

    It 'passthrough sectors are 512-byte units: sector 8 is byte 4096 on both paths' {
        $disk = Get-FaultDisk vb4k
        if (-not $disk) { return }
        $a = New-Pattern 4096 81; $b = New-Pattern 4096 82
        Write-VirtioBlkSector $disk.Path -Sector 16 -InputObject ([byte[]]::new(8192)) -Mode Block -Confirm:$false -ErrorAction Stop
        Write-VirtioBlkSector $disk.Path -Sector 0 -InputObject $a -Mode Passthrough -Confirm:$false -ErrorAction Stop
        Write-VirtioBlkSector $disk.Path -Sector 8 -InputObject $b -Mode Passthrough -Confirm:$false -ErrorAction Stop
        # In 4 KiB units sector 8 would be byte 32768 (block sector 64); in 512-byte units it is the second block.
        $both = [byte[]] (Read-VirtioBlkSector $disk.Path -Sector 0 -Count 16 -Mode Block -ErrorAction Stop).Bytes
        Test-SameBytes $a $both[0..4095] | Should -BeTrue
        Test-SameBytes $b $both[4096..8191] | Should -BeTrue
        $zero = [byte[]] (Read-VirtioBlkSector $disk.Path -Sector 16 -Count 16 -Mode Passthrough -ErrorAction Stop).Bytes
        Test-SameBytes ([byte[]]::new(8192)) $zero | Should -BeTrue
    }

    It 'on <Mode> a start, count or length that is not whole 4 KiB blocks is refused by id before submission' -TestCases @(
        @{ Mode = 'Passthrough' }, @{ Mode = 'Block' }
    ) {
        $disk = Get-FaultDisk vb4k
        if (-not $disk) { return }
        $qmp = Test-VbkQmp
        if ($qmp) { $before = Get-VbkBlockStats vb4k; $before.rd_operations | Should -Not -BeNullOrEmpty }
        $read = 'VirtioBlkUnaligned,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
        $write = 'VirtioBlkUnaligned,VirtioBlk.PowerShell.WriteVirtioBlkSectorCommand'
        foreach ($case in @(
                @{ Script = { Read-VirtioBlkSector $disk.Path -Sector 4 -Count 8 -Mode $Mode }; Id = $read; Text = '*-Sector 4 *multiple of 8*' },
                @{ Script = { Read-VirtioBlkSector $disk.Path -Sector 8 -Count 12 -Mode $Mode }; Id = $read; Text = '*-Count 12 *multiple of 8*' },
                @{ Script = { Read-VirtioBlkSector $disk.Path -Sector 8 -Count 1 -Mode $Mode -Poll }; Id = $read; Text = '*-Count 1 *multiple of 8*' },
                @{ Script = { Write-VirtioBlkSector $disk.Path -Sector 12 -InputObject ([byte[]]::new(4096)) -Mode $Mode -Confirm:$false }; Id = $write; Text = '*-Sector 12 *multiple of 8*' },
                @{ Script = { Write-VirtioBlkSector $disk.Path -Sector 8 -InputObject ([byte[]]::new(512)) -Mode $Mode -Confirm:$false }; Id = $write; Text = '*512 bytes*4096*' })) {
            $r = Invoke-Captured $case.Script
            $r.Output | Should -BeNullOrEmpty
            $r.Errors.Count | Should -Be 1
            $r.Errors[0].FullyQualifiedErrorId | Should -Be $case.Id
            $r.Errors[0].Exception.Message | Should -BeLike $case.Text
        }
        if ($qmp) {
            $after = Get-VbkBlockStats vb4k
            $after.rd_operations | Should -Be $before.rd_operations -Because 'nothing was submitted'
            $after.wr_operations | Should -Be $before.wr_operations
            $after.invalid_rd_operations | Should -Be $before.invalid_rd_operations
            $after.invalid_wr_operations | Should -Be $before.invalid_wr_operations
        }
    }
}

Describe 'The end of a 16 TiB disk (vbnull)' -Tags VM {
    # VirtioBlk.Vm.Tests.ps1 reads the last 256 sectors polled through passthrough and refuses a vbfile read past
    # its end; this adds the very last sector on both paths, and refusals one past it that never reach QEMU.
    It 'the last sector, above 2^32, reads through <Mode> (Poll=<Poll>)' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Mode = $m; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vbnull
        if (-not $disk) { return }
        $last = [uint64] ($disk.Sectors - 1)
        $last | Should -BeGreaterThan ([uint32]::MaxValue)
        $r = Read-VirtioBlkSector $disk.Path -Sector $last -Count 1 -Mode $Mode -Poll:$Poll -ErrorAction Stop
        $r.Sector | Should -Be $last
        $r.Length | Should -Be 512
        $r.Mode | Should -Be $Mode
    }

    It 'one past the last sector is refused on <Mode> before submission' -TestCases @(@{ Mode = 'Passthrough' }, @{ Mode = 'Block' }) {
        $disk = Get-FaultDisk vbnull
        if (-not $disk) { return }
        $qmp = Test-VbkQmp
        if ($qmp) { $before = Get-VbkBlockStats vbnull; $before.rd_operations | Should -Not -BeNullOrEmpty }
        $n = [uint64] $disk.Sectors
        foreach ($case in @(
                @{ Script = { Read-VirtioBlkSector $disk.Path -Sector $n -Count 1 -Mode $Mode -Poll }; Cmd = 'ReadVirtioBlkSectorCommand' },
                @{ Script = { Read-VirtioBlkSector $disk.Path -Sector ($n - 1) -Count 2 -Mode $Mode }; Cmd = 'ReadVirtioBlkSectorCommand' },
                @{ Script = { Write-VirtioBlkSector $disk.Path -Sector ($n - 1) -InputObject ([byte[]]::new(1024)) -Mode $Mode -PassThru -Confirm:$false }; Cmd = 'WriteVirtioBlkSectorCommand' },
                @{ Script = { Write-VirtioBlkSector $disk.Path -Sector $n -InputObject ([byte[]]::new(512)) -Mode $Mode -PassThru -Confirm:$false }; Cmd = 'WriteVirtioBlkSectorCommand' })) {
            $r = Invoke-Captured $case.Script
            $r.Output | Should -BeNullOrEmpty
            $r.Errors.Count | Should -Be 1
            $r.Errors[0].FullyQualifiedErrorId | Should -Be "VirtioBlkBeyondEndOfDevice,VirtioBlk.PowerShell.$($case.Cmd)"
            $r.Errors[0].Exception.Message | Should -BeLike "*last sector is $($n - 1)*"
        }
        if ($qmp) {
            $after = Get-VbkBlockStats vbnull
            $after.rd_operations | Should -Be $before.rd_operations -Because 'nothing was submitted'
            $after.wr_operations | Should -Be $before.wr_operations
            $after.invalid_rd_operations | Should -Be $before.invalid_rd_operations
            $after.invalid_wr_operations | Should -Be $before.invalid_wr_operations
        }
    }
}

Describe 'A flush reaches the device (QEMU flush_operations)' -Tags VM {
    It 'a -Flush write through <Mode> (Poll=<Poll>) raises vbfile''s flush_operations, a write without -Flush does not' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Mode = $m; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vbfile -Qmp
        if (-not $disk) { return }
        $sector = 32768 + 64 * (2 * [int]($Mode -eq 'Block') + [int]$Poll)
        $data = New-Pattern 4096 $sector

        $f0 = (Get-VbkBlockStats vbfile).flush_operations
        $f0 | Should -Not -BeNullOrEmpty
        Write-VirtioBlkSector $disk.Path -Sector $sector -InputObject $data -Mode $Mode -Poll:$Poll -Confirm:$false -ErrorAction Stop
        $f1 = (Get-VbkBlockStats vbfile).flush_operations
        $f1 | Should -Be $f0 -Because 'a write without -Flush sends no flush'

        $w = Write-VirtioBlkSector $disk.Path -Sector $sector -InputObject $data -Mode $Mode -Poll:$Poll -Flush -PassThru -Confirm:$false -ErrorAction Stop
        $w.Flushed | Should -BeTrue
        $w.Mode | Should -Be $Mode
        $f2 = (Get-VbkBlockStats vbfile).flush_operations
        $f2 | Should -BeGreaterThan $f1 -Because "the -Flush write through $Mode reached QEMU"
    }
}

Describe 'Multi-queue (vbmq): two threads, one ring each' -Tags VM {
    It 'a two-thread <Mode> benchmark (Poll=<Poll>) runs without errors' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ Mode = $m; Poll = $p } } }
    ) {
        $disk = Get-FaultDisk vbmq
        if (-not $disk) { return }
        $disk.QueueCount | Should -Be 2
        $r = Invoke-VirtioBlkBenchmark $disk.Path -Mode $Mode -Poll:$Poll -Threads 2 -QueueDepth 16 -IoCount 1000 -ErrorAction Stop
        $r.Errors | Should -Be 0
        $r.Threads | Should -Be 2
        $r.TotalIos | Should -Be 2000
        @($r.ThreadCpus -split '[^0-9]+' | Where-Object { $_ } | Sort-Object -Unique).Count | Should -Be 2 -Because "each thread runs on its own CPU, so blk-mq gives each its own queue ($($r.ThreadCpus))"
    }
}
