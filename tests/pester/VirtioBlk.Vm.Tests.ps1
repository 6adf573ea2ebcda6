#Requires -Version 7.4
# The cmdlets on the test VM's virtio disks (build.ps1 -Task VmTest; tests/vm/guest-tests.sh runs this file with
# -Tag VM): the disks with serial vbfile (file-backed, 256 MiB) and vbnull (null-backed, 16 TiB), both with
# /dev/vdXc0 and poll queues (the whole disk table is in tests/vm/README.md). Every passthrough switch round-trips bytes, and writes through one path are read back through the other.
# Tagged VM only, never CI: on a host without these disks every test skips with the reason.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $Devices = @(Get-VirtioBlkDevice -ErrorAction SilentlyContinue)
    $File = $Devices | Where-Object Serial -EQ 'vbfile' | Select-Object -First 1
    $NullDisk = $Devices | Where-Object Serial -EQ 'vbnull' | Select-Object -First 1

    function Skip-WithoutDisk($Device, [string] $Serial) {
        if (-not $Device) { Set-ItResult -Skipped -Because "no virtio disk with serial $Serial (runs in the test VM: build.ps1 -Task VmTest)"; return $true }
        if (-not $Device.PassthroughAvailable) { Set-ItResult -Skipped -Because "$($Device.Name) has no passthrough char device"; return $true }
        $false
    }

    function New-Pattern([int] $Length, [int] $Seed) { $b = [byte[]]::new($Length); [Random]::new($Seed).NextBytes($b); , $b }
    function Test-SameBytes([byte[]] $A, [byte[]] $B) { $A.Length -eq $B.Length -and [System.Linq.Enumerable]::SequenceEqual($A, $B) }
}

Describe 'Test-VirtioBlkPassthrough in the VM' -Tags VM {
    It 'the <Serial> disk is ready for passthrough and polled passthrough' -TestCases @(@{ Serial = 'vbfile' }, @{ Serial = 'vbnull' }) {
        $device = if ($Serial -eq 'vbfile') { $File } else { $NullDisk }
        if (Skip-WithoutDisk $device $Serial) { return }
        $report = Test-VirtioBlkPassthrough $device.Path -ErrorAction Stop
        $report.Checks | Where-Object State -NE 'Passed' | ForEach-Object { "$($_.Name): $($_.Detail)" } | Should -BeNullOrEmpty
        $report.Verdict | Should -Be 'Ok'
        $report.CharDevicePath | Should -Be $device.CharDevicePath
    }
}

Describe 'Read-/Write-VirtioBlkSector through passthrough in the VM' -Tags VM {
    It 'Vectored=<Vectored>, FixedBuffer=<FixedBuffer>, Poll=<Poll>: passthrough writes read back through both paths' -TestCases @(
        foreach ($v in $false, $true) { foreach ($f in $false, $true) { foreach ($p in $false, $true) {
                    if (-not ($v -and $f)) { @{ Vectored = $v; FixedBuffer = $f; Poll = $p } } } } }
    ) {
        if (Skip-WithoutDisk $File 'vbfile') { return }
        $switches = @{ Vectored = $Vectored; FixedBuffer = $FixedBuffer; Poll = $Poll }
        $perBlock = $File.LogicalBlockSize / 512
        $sector = [uint64] (4096 + 4096 * (4 * [int]$Vectored + 2 * [int]$FixedBuffer + [int]$Poll))
        $data = New-Pattern (1MB + $File.LogicalBlockSize) ([int]$sector)

        $written = Write-VirtioBlkSector $File.CharDevicePath -Sector $sector -InputObject $data -Mode Passthrough -Flush -PassThru -Confirm:$false @switches -ErrorAction Stop
        $written.Mode | Should -Be 'Passthrough'
        $written.Flushed | Should -BeTrue

        $count = $data.Length / 512
        $viaPassthrough = Read-VirtioBlkSector $File.Path -Sector $sector -Count $count -Mode Passthrough @switches -ErrorAction Stop
        $viaPassthrough.Mode | Should -Be 'Passthrough'
        $viaPassthrough.Path | Should -Be $File.CharDevicePath
        $viaPassthrough.Polled | Should -Be $Poll
        Test-SameBytes $data $viaPassthrough.Bytes | Should -BeTrue

        $viaBlock = Read-VirtioBlkSector $File.Path -Sector $sector -Count $count -Mode Block -ErrorAction Stop
        $viaBlock.Mode | Should -Be 'Block'
        Test-SameBytes $data $viaBlock.Bytes | Should -BeTrue
    }

    It 'Vectored=<Vectored>, FixedBuffer=<FixedBuffer>, Poll=<Poll>: block writes read back through passthrough' -TestCases @(
        foreach ($v in $false, $true) { foreach ($f in $false, $true) { foreach ($p in $false, $true) {
                    if (-not ($v -and $f)) { @{ Vectored = $v; FixedBuffer = $f; Poll = $p } } } } }
    ) {
        if (Skip-WithoutDisk $File 'vbfile') { return }
        $sector = [uint64] (65536 + 256 * (4 * [int]$Vectored + 2 * [int]$FixedBuffer + [int]$Poll))
        $data = New-Pattern (64KB) ([int]$sector + 1)
        Write-VirtioBlkSector $File.Path -Sector $sector -InputObject $data -Mode Block -Poll:$Poll -Vectored:$Vectored -Flush -Confirm:$false -ErrorAction Stop
        $back = Read-VirtioBlkSector $File.CharDevicePath -Sector $sector -Count ($data.Length / 512) -Mode Passthrough -Vectored:$Vectored -FixedBuffer:$FixedBuffer -Poll:$Poll -Raw -ErrorAction Stop
        Test-SameBytes $data $back | Should -BeTrue
    }

    It 'a 4 MiB transfer in ordinary memory, more pages than one request has segments, round-trips through <Mode> (Poll=<Poll>, Vectored=<Vectored>) in several I/Os' -TestCases @(
        @{ Index = 0; Mode = 'Passthrough'; Poll = $false; Vectored = $false }, @{ Index = 1; Mode = 'Passthrough'; Poll = $true; Vectored = $false }
        @{ Index = 2; Mode = 'Passthrough'; Poll = $false; Vectored = $true }, @{ Index = 3; Mode = 'Block'; Poll = $false; Vectored = $false }
        @{ Index = 4; Mode = 'Block'; Poll = $true; Vectored = $false }, @{ Index = 5; Mode = 'Block'; Poll = $false; Vectored = $true }
    ) {
        if (Skip-WithoutDisk $File 'vbfile') { return }
        # One request could not carry 4 MiB of 4 KiB pages (issue 12: the queue's segment count bounds a command).
        $File.MaxSegments | Should -BeGreaterThan 0
        (4MB / 4096) | Should -BeGreaterThan $File.MaxSegments
        $sector = [uint64] (131072 + 8192 * $Index)
        $data = New-Pattern 4MB ($Index + 41)
        $switches = @{ Mode = $Mode; Poll = $Poll; Vectored = $Vectored }
        $verbose = Write-VirtioBlkSector $File.Path -Sector $sector -InputObject $data @switches -Confirm:$false -Verbose -ErrorAction Stop 4>&1
        $said = ($verbose | ForEach-Object Message) -join "`n"
        $said | Should -Match '4194304 bytes as \d+ I/Os of up to \d+ bytes'
        $null = $said -match '4194304 bytes as (\d+) I/Os of up to (\d+) bytes' # Should -Match leaves $Matches alone
        [int] $Matches[1] | Should -BeGreaterThan 1
        [int] $Matches[2] | Should -BeLessOrEqual ($File.MaxSegments * 4096)
        $back = Read-VirtioBlkSector $File.Path -Sector $sector -Count 8192 @switches -Raw -ErrorAction Stop
        Test-SameBytes $data $back | Should -BeTrue
        $other = if ($Mode -eq 'Block') { 'Passthrough' } else { 'Block' }
        Test-SameBytes $data (Read-VirtioBlkSector $File.Path -Sector $sector -Count 8192 -Mode $other -Raw -ErrorAction Stop) | Should -BeTrue
    }

    It 'Auto runs passthrough as root, and says so' {
        if (Skip-WithoutDisk $File 'vbfile') { return }
        (Read-VirtioBlkSector $File.Path 0 -ErrorAction Stop).Mode | Should -Be 'Passthrough'
        # Passthrough forbids vectored + fixed, so Auto takes the block path, which needs READV_FIXED (Linux 6.15).
        $failures = $null
        $r = Read-VirtioBlkSector $File.Path 0 -Vectored -FixedBuffer -ErrorAction SilentlyContinue -ErrorVariable failures
        if ($r) { $r.Mode | Should -Be 'Block' }
        else { $failures[0].FullyQualifiedErrorId | Should -Be 'VirtioBlkUnsupportedCombination,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand' }
    }

    It 'passthrough + vectored + fixed buffer is refused before submission' {
        if (Skip-WithoutDisk $File 'vbfile') { return }
        { Read-VirtioBlkSector $File.CharDevicePath 0 -Mode Passthrough -Vectored -FixedBuffer -ErrorAction Stop } |
            Should -Throw -ErrorId 'VirtioBlkUnsupportedCombination,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
    }

    It 'the null disk answers polled passthrough reads at its last sectors' {
        if (Skip-WithoutDisk $NullDisk 'vbnull') { return }
        $last = [uint64] ($NullDisk.Sectors - 256)
        $r = Read-VirtioBlkSector $NullDisk.CharDevicePath -Sector $last -Count 256 -Mode Passthrough -Poll -ErrorAction Stop
        $r.Length | Should -Be (256 * 512)
    }

    It 'a range past the end of the disk is refused by id' {
        if (Skip-WithoutDisk $File 'vbfile') { return }
        { Read-VirtioBlkSector $File.CharDevicePath $File.Sectors -Mode Passthrough -ErrorAction Stop } |
            Should -Throw -ErrorId 'VirtioBlkBeyondEndOfDevice,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
    }
}
