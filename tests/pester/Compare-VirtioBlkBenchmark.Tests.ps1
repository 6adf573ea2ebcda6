#Requires -Version 7.4
# Compare-VirtioBlkBenchmark on real results from a loop device, in every form they are kept in: live, Export-Clixml /
# Import-Clixml, ConvertTo-Json / ConvertFrom-Json, and PSSerializer (what remoting does).

BeforeDiscovery {
    $script:IsRoot = (id -u) -eq '0'
}

Describe 'Compare-VirtioBlkBenchmark' -Tags CI {
    BeforeAll {
        $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
        Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
        $Fq = 'VirtioBlk.PowerShell.Commands.CompareVirtioBlkBenchmarkCommand'
        . (Join-Path $PSScriptRoot 'TestLoopDevice.ps1')
    }

    It 'refuses an input that is no benchmark result' {
        { Compare-VirtioBlkBenchmark -Reference ([pscustomobject]@{ A = 1 }) -Difference ([pscustomobject]@{ A = 1 }) -ErrorAction Stop } |
            Should -Throw -ErrorId "VirtioBlkNotABenchmarkResult,$Fq"
    }

    Context 'on results from a loop device' -Skip:(-not $IsRoot) {
        BeforeAll {
            $script:Loop = New-TestLoop -Size 16MB
            $knobs = @{ IoCount = 3000; QueueDepth = 8; SubmitBatch = 4; CompleteBatch = 4; Seed = 5 }
            $script:A = Invoke-VirtioBlkBenchmark $Loop.Path @knobs
            $script:B = Invoke-VirtioBlkBenchmark $Loop.Path @knobs
            $script:OtherQd = Invoke-VirtioBlkBenchmark $Loop.Path -IoCount 3000 -QueueDepth 4 -SubmitBatch 4 -CompleteBatch 4 -Seed 5
            $script:Xml = Join-Path ([IO.Path]::GetTempPath()) "vb-baseline-$([guid]::NewGuid().ToString('N')).xml"
            $A | Export-Clixml $Xml
        }
        AfterAll {
            Remove-TestLoop $script:Loop
            Remove-Item $script:Xml -ErrorAction Ignore
        }

        It 'emits one figure for IOPS, bandwidth, each latency percentile of each kind, errors and mismatches' {
            $f = Compare-VirtioBlkBenchmark -Reference $A -Difference $B
            $f.Figure | Should -Contain 'Iops'
            $f.Figure | Should -Contain 'BandwidthMiBps'
            foreach ($k in 'Lat', 'Clat', 'Slat') {
                foreach ($p in 'MeanUs', 'P50Us', 'P90Us', 'P99Us', 'P99_9Us', 'P99_99Us', 'MaxUs') { $f.Figure | Should -Contain "$k$p" }
            }
            $f.Figure | Should -Contain 'Errors'
            $f.Figure | Should -Contain 'Mismatches'
            $f.Count | Should -Be (2 + 21 + 2)
            $iops = $f | Where-Object Figure -EQ 'Iops'
            $iops.Reference | Should -Be $A.Iops
            $iops.Difference | Should -Be $B.Iops
            $iops.Ratio | Should -Be ([math]::Round($B.Iops / $A.Iops, 4))
        }

        It 'a result compared with itself regresses nowhere' {
            Compare-VirtioBlkBenchmark $A $A | Where-Object Regressed | Should -BeNullOrEmpty
        }

        It 'takes the reference from <Form>' -TestCases @(
            @{ Form = 'Import-Clixml'; Get = { Import-Clixml $Xml } }
            @{ Form = 'ConvertFrom-Json'; Get = { $A | ConvertTo-Json -Depth 4 | ConvertFrom-Json } }
            @{ Form = 'shallow JSON (flat columns only)'; Get = { $A | ConvertTo-Json -Depth 1 -WarningAction SilentlyContinue | ConvertFrom-Json } }
            @{ Form = 'remoting serialization'; Get = { [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($A, 3)) } }
        ) {
            $ref = & $Get
            $f = Compare-VirtioBlkBenchmark -Reference $ref -Difference $A -ErrorAction Stop
            ($f | Where-Object Figure -EQ 'Iops').Ratio | Should -Be 1
            ($f | Where-Object Figure -EQ 'LatP99Us').Reference | Should -Be $A.LatP99Us
            ($f | Where-Object Figure -EQ 'ClatP50Us').Reference | Should -Be $A.CompletionLatency.P50Us
            $f | Where-Object Regressed | Should -BeNullOrEmpty
        }

        It 'a figure worse than the threshold regresses, one within it does not' {
            $worse = Import-Clixml $Xml
            $worse.Iops = $A.Iops * 0.85
            $worse.TotalLatency.P99Us = $A.TotalLatency.P99Us * 1.05
            $worse.Errors = 3
            $f = Compare-VirtioBlkBenchmark -Reference $A -Difference $worse -Threshold 10%
            ($f | Where-Object Figure -EQ 'Iops').Regressed | Should -BeTrue
            ($f | Where-Object Figure -EQ 'LatP99Us').Regressed | Should -BeFalse
            ($f | Where-Object Figure -EQ 'Errors').Regressed | Should -BeTrue
            (Compare-VirtioBlkBenchmark -Reference $A -Difference $worse -Threshold 20 | Where-Object Figure -EQ 'Iops').Regressed | Should -BeFalse
            (Compare-VirtioBlkBenchmark -Reference $A -Difference $worse -Threshold 4% | Where-Object Figure -EQ 'LatP99Us').Regressed | Should -BeTrue
        }

        It 'results whose knobs differ are refused unless -Force' {
            $out = Compare-VirtioBlkBenchmark -Reference $A -Difference $OtherQd -ErrorVariable ev -ErrorAction SilentlyContinue
            $out | Should -BeNullOrEmpty
            $ev[0].FullyQualifiedErrorId | Should -Be "VirtioBlkBenchmarkKnobsDiffer,$Fq"
            $ev[0].Exception.Message | Should -Match 'QueueDepth 8 vs 4'
            $ev[0].ErrorDetails.RecommendedAction | Should -Match '-Force'
            (Compare-VirtioBlkBenchmark -Reference $A -Difference $OtherQd -Force -WarningAction SilentlyContinue).Count | Should -BeGreaterThan 0
        }

        It 'a fleet: each difference meets the reference of its own host and device' {
            $r1 = Import-Clixml $Xml; $r1.HostName = 'vm1'
            $r2 = Import-Clixml $Xml; $r2.HostName = 'vm2'; $r2.Iops = $A.Iops * 2
            $d1 = Import-Clixml $Xml; $d1.HostName = 'vm1'
            $d2 = Import-Clixml $Xml; $d2.HostName = 'vm2'
            $d3 = Import-Clixml $Xml; $d3.HostName = 'vm3'
            $f = $d1, $d2, $d3 | Compare-VirtioBlkBenchmark -Reference $r1, $r2 -ErrorVariable ev -ErrorAction SilentlyContinue
            ($f | Where-Object { $_.HostName -eq 'vm1' -and $_.Figure -eq 'Iops' }).Regressed | Should -BeFalse
            ($f | Where-Object { $_.HostName -eq 'vm2' -and $_.Figure -eq 'Iops' }).Regressed | Should -BeTrue
            $ev[0].FullyQualifiedErrorId | Should -Be "VirtioBlkBenchmarkReferenceNotFound,$Fq"
        }

        It 'the figure table fits <Width> columns' -TestCases @(@{ Width = 80 }, @{ Width = 120 }) {
            $text = Compare-VirtioBlkBenchmark $A $B | Format-Table | Out-String -Width $Width
            $text -split "`n" | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual $Width }
            $text | Should -Match 'LatP99Us'
        }
    }
}
