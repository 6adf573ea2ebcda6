#Requires -Version 7.4
# Invoke-VirtioBlkBenchmark on loop devices over tmpfs files: the figures agree with each other, each knob does
# what it says, writes are guarded. Passthrough and Compare mode run in the VM tier (VirtioBlk.Vm.Tests.ps1).

BeforeDiscovery {
    $script:IsRoot = (id -u) -eq '0'
}

Describe 'Invoke-VirtioBlkBenchmark' -Tags CI {
    BeforeAll {
        $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
        Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
        $Fq = 'VirtioBlk.PowerShell.Commands.InvokeVirtioBlkBenchmarkCommand'
        $script:Loops = @()
        function New-Loop([long] $Size = 64MB) {
            $file = "/dev/shm/vblk-bench-$([guid]::NewGuid().ToString('N')).img"
            [System.IO.File]::WriteAllBytes($file, [byte[]]::new(0))
            & truncate -s $Size $file
            $dev = (& losetup --find --show $file).Trim()
            $script:Loops += [pscustomobject]@{ Device = $dev; File = $file }
            $dev
        }
    }
    AfterAll {
        foreach ($l in $script:Loops) {
            & umount $l.Device 2>$null
            & losetup -d $l.Device 2>$null
            Remove-Item $l.File -ErrorAction Ignore
        }
    }

    Context 'on a loop device' -Skip:(-not $IsRoot) {
        BeforeAll { $script:Dev = New-Loop }

        It 'QD<QueueDepth> batch <SubmitBatch>: IOPS x seconds = total I/Os, percentiles ordered, IOs per call within the batch' -TestCases @(
            @{ QueueDepth = 1; SubmitBatch = 1 }
            @{ QueueDepth = 8; SubmitBatch = 4 }
            @{ QueueDepth = 32; SubmitBatch = 8 }
        ) {
            $r = Invoke-VirtioBlkBenchmark -Path $Dev -QueueDepth $QueueDepth -SubmitBatch $SubmitBatch -CompleteBatch $SubmitBatch -IoCount 5000 -FixedBuffers -RegisteredFiles
            $r | Should -BeOfType VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkResult
            $r.Mode | Should -Be 'Block'
            $r.Errors | Should -Be 0
            $r.TotalIos | Should -Be 5000
            ($r.Iops * $r.Seconds) | Should -BeGreaterOrEqual (5000 * 0.99)
            ($r.Iops * $r.Seconds) | Should -BeLessOrEqual (5000 * 1.01)
            $r.IosPerSubmitCall | Should -BeGreaterOrEqual 1
            $r.IosPerSubmitCall | Should -BeLessOrEqual $SubmitBatch
            $l = $r.TotalLatency
            $l.Count | Should -Be 5000
            $l.MinUs | Should -BeLessOrEqual $l.P50Us
            $l.P50Us | Should -BeLessOrEqual $l.P90Us
            $l.P90Us | Should -BeLessOrEqual $l.P99Us
            $l.P99Us | Should -BeLessOrEqual $l.P99_9Us
            $l.P99_9Us | Should -BeLessOrEqual $l.P99_99Us
            ($r.LatencyHistogram | Measure-Object Count -Sum).Sum | Should -Be 5000
            $r.KernelRelease | Should -Be (Get-Content /proc/sys/kernel/osrelease)
        }

        It '-Threads 2 runs two rings and -Seconds gives one sample per second, the partial last one included' {
            $r = Invoke-VirtioBlkBenchmark -Path $Dev -Threads 2 -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 4 -Seconds 2.2 -NoLatency
            $r.Threads | Should -Be 2
            $r.IopsPerSecond.Count | Should -BeIn 3, 4
            ($r.IopsPerSecond | Measure-Object -Sum).Sum | Should -Be $r.TotalIos
            ($r.GetIopsSamples() | Measure-Object Ios -Sum).Sum | Should -Be $r.TotalIos
            $r.TotalLatency | Should -BeNullOrEmpty
            $r.UserCpuSeconds + $r.SystemCpuSeconds | Should -BeGreaterThan 0
        }

        It 'binds -Path by property name from the pipeline' {
            $r = [pscustomobject]@{ Path = $Dev } | Invoke-VirtioBlkBenchmark -IoCount 100 -QueueDepth 4
            $r.Path | Should -Be $Dev
            $r.TotalIos | Should -Be 100
        }

        It 'the views format it: the table and the fio-like list' {
            $r = Invoke-VirtioBlkBenchmark -Path $Dev -IoCount 200 -QueueDepth 4
            ($r | Format-Table | Out-String) | Should -Match 'IOPS'
            ($r | Format-List | Out-String) | Should -Match 'lat percentiles'
            ($r | ConvertTo-Json -Depth 4 | ConvertFrom-Json).TotalIos | Should -Be 200
        }

        It '-WhatIf on a write workload writes nothing' {
            $before = (Get-FileHash -Algorithm SHA256 ($script:Loops | Where-Object Device -EQ $Dev).File).Hash
            Invoke-VirtioBlkBenchmark -Path $Dev -Operation Write -IoCount 500 -WhatIf | Should -BeNullOrEmpty
            (Get-FileHash -Algorithm SHA256 ($script:Loops | Where-Object Device -EQ $Dev).File).Hash | Should -Be $before
        }

        It 'a write workload with -Confirm:$false writes inside -Range only' {
            $file = ($script:Loops | Where-Object Device -EQ $Dev).File
            $r = Invoke-VirtioBlkBenchmark -Path $Dev -Operation Write -IoCount 500 -QueueDepth 8 -Range 1MiB+1MiB -Buffer Pattern -Confirm:$false
            $r.Errors | Should -Be 0
            $bytes = [System.IO.File]::ReadAllBytes($file)
            [Array]::IndexOf($bytes[0..(1MB - 1)], [byte]0x5A) | Should -Be -1
            [Array]::IndexOf($bytes[(1MB)..(2MB - 1)], [byte]0x5A) | Should -BeGreaterOrEqual 0
            [Array]::IndexOf($bytes[(2MB)..(4MB - 1)], [byte]0x5A) | Should -Be -1
        }

        It '-Poll without poll queues fails with a clear error' {
            { Invoke-VirtioBlkBenchmark -Path $Dev -Poll -IoCount 10 -ErrorAction Stop } |
                Should -Throw -ErrorId "VirtioBlkPollUnavailable,$Fq"
        }

        It '<Name> on a loop device says passthrough needs a virtio disk' -TestCases @(
            @{ Name = '-Mode Passthrough'; Params = @{ Mode = 'Passthrough' } }, @{ Name = '-Compare'; Params = @{ Compare = $true } }
        ) {
            $e = { Invoke-VirtioBlkBenchmark -Path $Dev @Params -IoCount 10 -ErrorAction Stop } | Should -Throw -PassThru
            $e.FullyQualifiedErrorId | Should -Match "^VirtioBlk(PassthroughNeedsVirtio|NotVirtioDisk|PassthroughUnavailable)\w*,$Fq"
        }

        It '<Name> is refused before any I/O' -TestCases @(
            @{ Name = 'a range past the end'; Params = @{ Range = '60MiB+8MiB' }; Id = 'VirtioBlkBeyondEndOfDevice' }
            @{ Name = 'a malformed range'; Params = @{ Range = 'lots' }; Id = 'VirtioBlkInvalidArgument' }
            @{ Name = '-Verify on a read workload'; Params = @{ Verify = $true }; Id = 'VirtioBlkUnsupportedCombination' }
        ) {
            { Invoke-VirtioBlkBenchmark -Path $Dev -IoCount 10 @Params -ErrorAction Stop } | Should -Throw -ErrorId "$Id,$Fq"
        }
    }

    Context 'parameters (issue 10): one parameter per choice, limits at binding' -Skip:(-not $IsRoot) {
        BeforeAll { $script:Dev2 = New-Loop 16MB }

        It 'a block size that is not a multiple of 512 is refused at binding' {
            { Invoke-VirtioBlkBenchmark -Path $Dev2 -IoCount 10 -BlockSize 1000 -ErrorAction Stop } |
                Should -Throw -ErrorId "ParameterArgumentValidationError,$Fq"
        }

        It 'a block size that is a multiple of 512 but not of the logical block is refused by the core' {
            $l4k = (& losetup --find --show --sector-size 4096 ($script:Loops | Where-Object Device -EQ $Dev2).File).Trim()
            try {
                { Invoke-VirtioBlkBenchmark -Path $l4k -IoCount 10 -BlockSize 6144 -ErrorAction Stop } | Should -Throw -ErrorId "VirtioBlkInvalidArgument,$Fq"
            } finally { & losetup -d $l4k }
        }

        It '-Rounds without -Compare is a binding error, not silently ignored' {
            { Invoke-VirtioBlkBenchmark -Path $Dev2 -IoCount 10 -Rounds 3 -ErrorAction Stop } | Should -Throw -ErrorId "VirtioBlkUnsupportedCombination,$Fq"
            { $Dev2 | Invoke-VirtioBlkBenchmark -IoCount 10 -Rounds 3 -ErrorAction Stop } | Should -Throw -ErrorId "VirtioBlkUnsupportedCombination,$Fq"
            { Invoke-VirtioBlkBenchmark -Path $Dev2 -IoCount 10 -Compare -Mode Block -ErrorAction Stop } | Should -Throw -ErrorId "VirtioBlkUnsupportedCombination,$Fq"
        }

        It 'the old switches are gone: -<Name>' -TestCases @(@{ Name = 'Random' }, @{ Name = 'Sequential' }, @{ Name = 'Direct' }) {
            (Get-Command Invoke-VirtioBlkBenchmark).Parameters.ContainsKey($Name) | Should -BeFalse
        }

        It 'no switch defaults to true' {
            $cmd = [VirtioBlk.PowerShell.Commands.InvokeVirtioBlkBenchmarkCommand]::new()
            foreach ($p in $cmd.GetType().GetProperties() | Where-Object PropertyType -EQ ([System.Management.Automation.SwitchParameter])) {
                $p.GetValue($cmd).IsPresent | Should -BeFalse -Because "-$($p.Name) must default to off"
            }
        }

        It '-Buffered goes through the page cache and says so' {
            $r = Invoke-VirtioBlkBenchmark -Path $Dev2 -Buffered -IoCount 200 -QueueDepth 4
            $r.Buffered | Should -BeTrue
            $r.Errors | Should -Be 0
        }

        It '-Pattern Sequential is recorded by name' {
            (Invoke-VirtioBlkBenchmark -Path $Dev2 -Pattern Sequential -IoCount 100 -QueueDepth 4).Pattern | Should -Be 'Sequential'
        }

        It 'a read benchmark with -WhatIf does not run' {
            $out = Invoke-VirtioBlkBenchmark -Path $Dev2 -IoCount 100000000 -WhatIf
            $out | Should -BeNullOrEmpty
            @(Get-ChildItem /proc/self/fd | Where-Object { "$($_.LinkTarget)" -eq $Dev2 }).Count | Should -Be 0
        }

        It 'a result carries a schema version and every knob needed to rerun it' {
            $r = Invoke-VirtioBlkBenchmark -Path $Dev2 -IoCount 100 -QueueDepth 4 -Seed 9 -RateIops 100000 -Buffer Zero
            $r.SchemaVersion | Should -Be 2
            $r.Seed | Should -Be 9
            $r.RateIops | Should -Be 100000
            $r.Buffer | Should -Be 'Zero'
            $r.IoCount | Should -Be 100
            foreach ($k in [VirtioBlk.PowerShell.Benchmark.BenchmarkBaseline]::Knobs) { $r.PSObject.Properties[$k] | Should -Not -BeNullOrEmpty -Because "knob $k" }
        }
    }

    Context 'output people can read and export' -Skip:(-not $IsRoot) {
        BeforeAll {
            $script:Dev3 = New-Loop 16MB
            $script:R = Invoke-VirtioBlkBenchmark -Path $Dev3 -IoCount 3000 -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 4 -Threads 2
        }

        It 'the default table fits <Width> columns and keeps the p99 whole' -TestCases @(@{ Width = 80 }, @{ Width = 120 }) {
            $text = $R | Format-Table | Out-String -Width $Width
            $lines = $text -split "`n" | Where-Object { $_.Trim() }
            $lines | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual $Width }
            $lines[0] | Should -Match 'p99 us'
            $p99 = [VirtioBlk.PowerShell.Formatting.Compact]::Number($R.LatP99Us, 6)
            $lines[2] | Should -Match ([regex]::Escape($p99))
            $lines[2] | Should -Match ([regex]::Escape('8x2'))
        }

        It 'Compact keeps 73.6 as 73.6 and shortens what does not fit' {
            [VirtioBlk.PowerShell.Formatting.Compact]::Number(73.6, 7) | Should -Be '73.6'
            [VirtioBlk.PowerShell.Formatting.Compact]::Number(1234567, 7) | Should -Be '1.23M'
            [VirtioBlk.PowerShell.Formatting.Compact]::Number(12345.6, 7) | Should -Be '12,346'
        }

        It 'Export-Csv gives one flat row of numbers, no System.* columns' {
            $csv = @($R | ConvertTo-Csv)
            $csv.Count | Should -Be 2
            $csv[1] | Should -Not -Match 'System\.'
            $row = $csv | ConvertFrom-Csv
            foreach ($c in 'Iops', 'BandwidthMiBps', 'Errors', 'LatP50Us', 'LatP99Us', 'LatMaxUs', 'ClatP50Us', 'ClatP99Us', 'ClatMaxUs', 'SlatP50Us', 'SlatP99Us', 'SlatMaxUs') {
                [double]::Parse($row.$c, [cultureinfo]::InvariantCulture) | Should -BeOfType [double] -Because $c
            }
            [double] $row.Iops | Should -Be ([double] ('{0:R}' -f $R.Iops))
        }

        It 'JSON writes enums as names and the start time as ISO 8601 with its offset' {
            $j = $R | ConvertTo-Json -Depth 4
            $o = $j | ConvertFrom-Json -DateKind String
            $o.Operation | Should -Be 'Read'
            $o.Pattern | Should -Be 'Random'
            $o.Buffer | Should -Be 'Random'
            $o.StartTime | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$'
            $o.TotalLatency.P99Us | Should -Be $R.TotalLatency.P99Us
            $o.IopsPerSecond.Count | Should -Be $R.IopsPerSecond.Count
        }
    }

    Context 'a mounted disk' -Skip:(-not $IsRoot -or -not (Get-Command mkfs.ext4 -ErrorAction Ignore)) {
        BeforeAll {
            $script:Mounted = New-Loop 32MB
            & mkfs.ext4 -q $Mounted 2>&1 | Out-Null
            $script:MountPoint = (New-Item -ItemType Directory "/tmp/vblk-mnt-$([guid]::NewGuid().ToString('N'))").FullName
            & mount $Mounted $MountPoint
        }
        AfterAll {
            & umount $MountPoint 2>$null
            Remove-Item $MountPoint -ErrorAction Ignore
        }

        It 'a write workload is refused' {
            { Invoke-VirtioBlkBenchmark -Path $Mounted -Operation Write -IoCount 10 -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId "VirtioBlkDiskInUse,$Fq"
        }

        It 'a read workload still runs' {
            (Invoke-VirtioBlkBenchmark -Path $Mounted -IoCount 100 -QueueDepth 4).Errors | Should -Be 0
        }
    }

    It 'a missing path is a per-item error and the pipeline goes on' {
        $out = '/dev/no-such-disk', '/dev/also-missing' | Invoke-VirtioBlkBenchmark -IoCount 1 -ErrorAction SilentlyContinue -ErrorVariable errs
        $out | Should -BeNullOrEmpty
        $errs.Count | Should -Be 2
        $errs[0].FullyQualifiedErrorId | Should -Be "VirtioBlkPathNotFound,$Fq"
    }
}

Describe 'Invoke-VirtioBlkBenchmark stopped like Ctrl+C' -Tags CI {
    It 'stops within seconds, drains, reports what ran and leaves no fd open' -Skip:((id -u) -ne '0') {
        $file = "/dev/shm/vblk-stop-$([guid]::NewGuid().ToString('N')).img"
        & truncate -s 64M $file
        $dev = (& losetup --find --show $file).Trim()
        try {
            # The engine's fds: rings (anon_inode:[io_uring]) and the device itself.
            function Get-EngineFdCount { @(Get-ChildItem /proc/self/fd | Where-Object { "$($_.LinkTarget)" -match 'io_uring|' + [regex]::Escape($dev) }).Count }
            $ps = [powershell]::Create()
            $null = $ps.AddCommand('Import-Module').AddArgument((Join-Path (Resolve-Path "$PSScriptRoot/../..") 'VirtioBlk.psd1')).AddStatement()
            $null = $ps.AddCommand('Invoke-VirtioBlkBenchmark').AddParameter('Path', $dev).AddParameter('Seconds', 60).AddParameter('QueueDepth', 32)
            $async = $ps.BeginInvoke()
            Start-Sleep -Seconds 2
            Get-EngineFdCount | Should -BeGreaterThan 1 -Because 'the running engine holds a ring and the device open'
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()   # what Ctrl+C does: StopProcessing on another thread
            $async.AsyncWaitHandle.WaitOne(5000) | Should -BeTrue -Because 'the pipeline ends once the engine has drained'
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 5
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $ps.Dispose()
            [GC]::Collect(); [GC]::WaitForPendingFinalizers()
            Get-EngineFdCount | Should -Be 0
        }
        finally {
            & losetup -d $dev
            Remove-Item $file -ErrorAction Ignore
        }
    }
}
