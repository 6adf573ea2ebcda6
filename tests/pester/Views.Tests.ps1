#Requires -Version 7.4
# What users see without reading: the views of every output type (live and deserialized), the type data
# (SizeHuman, P99Us, export methods), the terminal chart, tab completion, and exports (JSON, CSV) of benchmark results.

BeforeDiscovery {
    $script:IsRoot = (id -u) -eq '0'
    $script:VirtioDisks = @(Get-ChildItem /sys/block | Where-Object {
            $driver = Get-Item "/sys/block/$($_.Name)/device/driver" -ErrorAction Ignore
            $driver -and (Split-Path -Leaf $driver.ResolvedTarget) -eq 'virtio_blk'
        } | ForEach-Object Name)
    $script:OutputTypes = @(
        'VirtioBlk.Core.Devices.VirtioBlkDevice'
        'VirtioBlk.PowerShell.Devices.VirtioBlkSectorData'
        'VirtioBlk.PowerShell.Devices.VirtioBlkSectorWriteResult'
        'VirtioBlk.PowerShell.Devices.VirtioBlkPassthroughReport'
        'VirtioBlk.PowerShell.Devices.PassthroughPrerequisite'
        'VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkResult'
        'VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkComparison'
    ) | ForEach-Object { @{ Type = $_ } }
}

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    function ConvertTo-Deserialized($InputObject) {
        # What remoting does to an object: serialize with the type's depth, rebuild as Deserialized.*.
        [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($InputObject))
    }
}

Describe 'Format views' -Tags CI {
    It 'every output type <Type> has a view, and so has its deserialized form' -TestCases $OutputTypes {
        Get-FormatData -TypeName $Type | Should -Not -BeNullOrEmpty
        Get-FormatData -TypeName "Deserialized.$Type" | Should -Not -BeNullOrEmpty
    }

    It 'every type an exported cmdlet declares in [OutputType] has a view' {
        $declared = Get-Command -Module VirtioBlk | ForEach-Object OutputType | ForEach-Object Name |
            Where-Object { $_ -like 'VirtioBlk.*' } | Sort-Object -Unique
        $declared | Should -Not -BeNullOrEmpty
        foreach ($t in $declared) { Get-FormatData -TypeName $t | Should -Not -BeNullOrEmpty -Because "$t is output" }
    }

    It 'the benchmark result has a table, a fio-like list and a Chart view' {
        $views = (Get-FormatData -TypeName VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkResult).FormatViewDefinition
        $kinds = $views | ForEach-Object { $_.Control.GetType().Name }
        $kinds | Should -Contain 'TableControl'
        $kinds | Should -Contain 'ListControl'
        ($views | Where-Object Name -EQ 'Chart').Control.GetType().Name | Should -Be 'CustomControl'
    }
}

Describe 'Devices: views and type data' -Tags CI -Skip:(-not $VirtioDisks) {
    BeforeAll { $Devices = @(Get-VirtioBlkDevice) }

    It 'SizeHuman gives the size in binary units' {
        foreach ($d in $Devices) { $d.SizeHuman | Should -Be ([VirtioBlk.PowerShell.Devices.ByteSize]::Format($d.SizeBytes)) }
    }

    It 'the table and the list format the live and the deserialized objects alike' {
        $live = $Devices | Format-Table | Out-String
        $remote = ConvertTo-Deserialized $Devices
        $remote[0].pstypenames[0] | Should -Be 'Deserialized.VirtioBlk.Core.Devices.VirtioBlkDevice'
        ($remote | Format-Table | Out-String) | Should -Be $live
        ($remote | Format-List | Out-String) | Should -Be ($Devices | Format-List | Out-String)
        $remote[0].SizeHuman | Should -Be $Devices[0].SizeHuman
        $live | Should -Match 'PollQueues'
    }
}

Describe 'Tab completion' -Tags CI {
    It '-Name v<Tab> completes every virtio disk (<_>)' -ForEach $VirtioDisks {
        (TabExpansion2 'Get-VirtioBlkDevice -Name v').CompletionMatches.CompletionText | Should -Contain $_
    }

    It '-Path /dev/v<Tab> on <Command> completes /dev/<Disk>' -TestCases @(
        foreach ($c in 'Read-VirtioBlkSector', 'Write-VirtioBlkSector', 'Test-VirtioBlkPassthrough', 'Invoke-VirtioBlkBenchmark') {
            foreach ($d in $VirtioDisks) { @{ Command = $c; Disk = $d } }
        }) {
        (TabExpansion2 "$Command -Path /dev/v").CompletionMatches.CompletionText | Should -Contain "/dev/$Disk"
    }

    It 'a path that names no virtio disk falls back to file completion' {
        (TabExpansion2 'Read-VirtioBlkSector -Path /tm').CompletionMatches.CompletionText | Should -Contain '/tmp'
    }

    It 'a -Path completion of a disk with a char device offers /dev/vdXc0 too' {
        $withChar = Get-VirtioBlkDevice | Where-Object PassthroughAvailable | Select-Object -First 1
        if (-not $withChar) { Set-ItResult -Skipped -Because 'no disk here has /dev/vdXc0 (the VM tier has)'; return }
        (TabExpansion2 "Read-VirtioBlkSector -Path $($withChar.Path)").CompletionMatches.CompletionText | Should -Contain $withChar.CharDevicePath
    }
}

Describe 'TerminalChart' -Tags CI {
    It 'draws a sparkline scaled from 0 to the largest sample, in blocks or ASCII' {
        [VirtioBlk.PowerShell.Formatting.TerminalChart]::Sparkline([long[]] (0, 50, 100), $false, 60) | Should -Be '▁▅█'
        [VirtioBlk.PowerShell.Formatting.TerminalChart]::Sparkline([long[]] (0, 50, 100), $true, 60) | Should -Be '_=#'
    }

    It 'averages samples to fit the width' {
        ([VirtioBlk.PowerShell.Formatting.TerminalChart]::Sparkline([long[]] (1..300), $true, 60)).Length | Should -Be 60
    }

    It 'draws one bar per bucket, the largest full width, from deserialized buckets too' {
        $buckets = @(
            [pscustomobject]@{ UpToMicroseconds = 8; Count = 10; Percent = 10 }
            [pscustomobject]@{ UpToMicroseconds = 16; Count = 80; Percent = 80 }
            [pscustomobject]@{ UpToMicroseconds = 32; Count = 10; Percent = 10 })
        $lines = [VirtioBlk.PowerShell.Formatting.TerminalChart]::Histogram($buckets, $true, 40) -split "`n"
        $lines.Count | Should -Be 4
        $lines[2] | Should -Match '16\s+80\s+80.00% \|#{40}$'
        $lines[1] | Should -Match '\|#{5}$'
        [VirtioBlk.PowerShell.Formatting.TerminalChart]::Histogram($buckets, $false, 40) | Should -Match '█{40}'
    }
}

Describe 'Benchmark results: chart, exports, deserialization' -Tags CI -Skip:(-not $IsRoot) {
    BeforeAll {
        $file = "/dev/shm/vblk-views-$([guid]::NewGuid().ToString('N')).img"
        & truncate -s 32M $file
        $Loop = (& losetup --find --show $file).Trim()
        $script:LoopFile = $file
        $R = Invoke-VirtioBlkBenchmark -Path $Loop -QueueDepth 4 -SubmitBatch 2 -CompleteBatch 2 -Seconds 2.2 -ErrorAction Stop
    }
    AfterAll {
        & losetup -d $Loop 2>$null
        Remove-Item $LoopFile -ErrorAction Ignore
    }

    It 'Format-Custom -View Chart draws the histogram and the IOPS sparkline (ASCII under NO_COLOR)' {
        $text = $R | Format-Custom -View Chart | Out-String
        $text | Should -Match 'latency distribution'
        $text | Should -Match ('IOPS per second \({0} samples' -f $R.IopsPerSecond.Count)   # 2.2 s: the partial third second counts too
        $plain = [bool]$env:NO_COLOR -or $PSStyle.OutputRendering -eq 'PlainText'
        $text | Should -Match $(if ($plain) { '\|#+' } else { '\|[█▏▎▍▌▋▊▉]+' })
    }

    It 'the list view has the sparkline, the table the p99' {
        ($R | Format-List | Out-String) | Should -Match 'IOPS trend'
        ($R | Format-Table | Out-String -Width 160) | Should -Match 'p99 us'
    }

    It 'P50Us, P99Us and P99_9Us are the total latency''s' {
        $R.P50Us | Should -Be $R.TotalLatency.P50Us
        $R.P99Us | Should -Be $R.TotalLatency.P99Us
        $R.P99_9Us | Should -Be $R.TotalLatency.P99_9Us
    }

    It 'survives ConvertTo-Json / ConvertFrom-Json with its samples and percentiles' {
        $back = $R | ConvertTo-Json -Depth 4 | ConvertFrom-Json
        $back.TotalLatency.P99Us | Should -Be $R.TotalLatency.P99Us
        $back.SubmitLatency.P50Us | Should -Be $R.SubmitLatency.P50Us
        @($back.IopsPerSecond) | Should -Be @($R.IopsPerSecond)
        @($back.LatencyHistogram.Count) | Should -Be @($R.LatencyHistogram.Count)
        $back.P99Us | Should -Be $R.P99Us
    }

    It 'GetIopsSamples() and GetLatencyPercentiles() export to CSV and read back' {
        $csv = Join-Path TestDrive: 'iops.csv'
        $R.GetIopsSamples() | Export-Csv $csv
        $rows = @(Import-Csv $csv)
        $rows.Count | Should -Be $R.IopsPerSecond.Count
        [long[]] $rows.Ios | Should -Be $R.IopsPerSecond   # Ios: the count; Iops: the rate, pro-rated for the partial last second
        $rows[0].Second | Should -Be 1
        $pcsv = Join-Path TestDrive: 'lat.csv'
        $R.GetLatencyPercentiles() | Export-Csv $pcsv
        $p = @(Import-Csv $pcsv)
        $p.Count | Should -Be 24
        [double] ($p | Where-Object { $_.Kind -eq 'Total' -and $_.Percentile -eq '99' }).Us | Should -Be $R.TotalLatency.P99Us
    }

    It 'Export-Csv of the result itself has flat percentile columns' {
        $csv = Join-Path TestDrive: 'runs.csv'
        $R | Export-Csv $csv
        [double] (Import-Csv $csv).P99Us | Should -Be $R.P99Us
    }

    It 'deserialized, it keeps nested latencies, histogram and samples, its methods and its views' {
        $d = ConvertTo-Deserialized $R
        $d.pstypenames[0] | Should -Be 'Deserialized.VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkResult'
        $d.TotalLatency.P99_99Us | Should -Be $R.TotalLatency.P99_99Us
        @($d.LatencyHistogram.Count) | Should -Be @($R.LatencyHistogram.Count)
        @($d.IopsPerSecond) | Should -Be @($R.IopsPerSecond)
        @($d.GetIopsSamples()).Count | Should -Be $R.IopsPerSecond.Count
        ($d | Format-Table | Out-String) | Should -Be ($R | Format-Table | Out-String)
        ($d | Format-List | Out-String) | Should -Be ($R | Format-List | Out-String)
        ($d | Format-Custom -View Chart | Out-String) | Should -Be ($R | Format-Custom -View Chart | Out-String)
    }

    It 'a hex dump formats the same when deserialized' {
        $read = Read-VirtioBlkSector -Path $Loop -Sector 0 -Count 2 -ErrorAction Stop
        (ConvertTo-Deserialized $read | Out-String) | Should -Be ($read | Out-String)
    }
}
