#Requires -Version 7.4
# Invoke-VirtioBlkBenchmark in the test VM (tag VM, run by tests/vm/guest-tests.sh): Compare mode on both guest disks,
# polled and not, and the passthrough path's own figures. On a host without the guest's disks every test skips.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $Devices = @(Get-VirtioBlkDevice -ErrorAction SilentlyContinue)
    function Get-GuestDisk([string] $Serial) {
        $d = $Devices | Where-Object Serial -EQ $Serial | Select-Object -First 1
        if (-not $d) { Set-ItResult -Skipped -Because "no virtio disk with serial $Serial (runs in the test VM: build.ps1 -Task VmTest)" }
        elseif (-not $d.PassthroughAvailable) { Set-ItResult -Skipped -Because "$($d.Name) has no passthrough char device"; $d = $null }
        $d
    }
}

Describe 'Invoke-VirtioBlkBenchmark in the VM' -Tags VM {
    It 'Compare on <Serial>, Poll=<Poll>: both paths ran the same knobs, without errors' -TestCases @(
        foreach ($s in 'vbfile', 'vbnull') { foreach ($p in $false, $true) { @{ Serial = $s; Poll = $p } } }
    ) {
        $disk = Get-GuestDisk $Serial
        if (-not $disk) { return }
        $c = $disk | Invoke-VirtioBlkBenchmark -Compare -Rounds 2 -IoCount 2000 -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 4 -Poll:$Poll -FixedBuffers -RegisteredFiles
        $c | Should -BeOfType VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkComparison
        $c.Errors | Should -Be 0
        $c.Rounds | Should -Be 2
        $c.Runs.Count | Should -Be 4
        @($c.Runs | Where-Object Mode -EQ 'Passthrough').Count | Should -Be 2
        @($c.Runs | Where-Object Mode -EQ 'Block').Count | Should -Be 2
        foreach ($r in $c.Runs) {
            $r.TotalIos | Should -Be 2000
            $r.Poll | Should -Be $Poll
            $r.Operation | Should -Be 'Read'
            $r.QueueDepth | Should -Be 8
        }
        ($c.Runs | Where-Object Mode -EQ 'Passthrough')[0].Path | Should -Be $disk.CharDevicePath
        ($c.Runs | Where-Object Mode -EQ 'Block')[0].Path | Should -Be $disk.Path
        $c.RatioMin | Should -BeLessOrEqual $c.RatioMedian
        $c.RatioMedian | Should -BeLessOrEqual $c.RatioMax
        ($c | Format-Table | Out-String) | Should -Match 'Ratio'
    }

    It 'a passthrough write workload on the null disk counts every I/O and no error' {
        $disk = Get-GuestDisk 'vbnull'
        if (-not $disk) { return }
        $r = Invoke-VirtioBlkBenchmark $disk.Path -Mode Passthrough -Operation Mixed -ReadPercent 30 -IoCount 3000 -QueueDepth 16 -SubmitBatch 8 -CompleteBatch 8 -Confirm:$false
        $r.Errors | Should -Be 0
        $r.TotalIos | Should -Be 3000
        $r.Mode | Should -Be 'Passthrough'
        $r.TotalLatency.P50Us | Should -BeLessOrEqual $r.TotalLatency.P99Us
        $r.AllocatedBytesPerIo | Should -Be 0
    }

    It 'a range past the end is refused, and the last 64 KiB of the disk are reachable through passthrough' {
        $disk = Get-GuestDisk 'vbnull'
        if (-not $disk) { return }
        # vbnull is 16 TiB: a range that straddles its end, whatever its size.
        $past = '{0}+8192' -f ($disk.SizeBytes - 4096)
        { Invoke-VirtioBlkBenchmark $disk.Path -Mode Passthrough -Range $past -IoCount 10 -ErrorAction Stop } |
            Should -Throw -ErrorId 'VirtioBlkBeyondEndOfDevice,VirtioBlk.PowerShell.Commands.InvokeVirtioBlkBenchmarkCommand'
        $tail = '{0}+65536' -f ($disk.SizeBytes - 65536)
        $r = Invoke-VirtioBlkBenchmark $disk.Path -Mode Passthrough -Range $tail -IoCount 500 -QueueDepth 4
        $r.Errors | Should -Be 0
        $r.RangeOffset | Should -Be ($disk.SizeBytes - 65536)
    }
}
