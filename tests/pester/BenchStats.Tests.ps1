#Requires -Version 7.4
# bench/BenchStats.psm1: the statistics the README's efficiency figures are printed with. No device needed.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../bench/BenchStats.psm1') -Force
}

Describe 'Get-Median' -Tags CI {
    It 'takes the middle of an odd count and the mean of the two middles of an even count, whatever the order' {
        Get-Median @(3, 1, 2) | Should -Be 2
        Get-Median @(4, 1, 3, 2) | Should -Be 2.5
        Get-Median @(7) | Should -Be 7
    }
    It 'leaves its input in its order' {
        $v = [double[]](3, 1, 2)
        $null = Get-Median $v
        $v | Should -Be @(3, 1, 2)
    }
}

Describe 'Get-RatioSummary' -Tags CI {
    It 'reports min, median, max, geometric mean and wins of the ratios' {
        $s = Get-RatioSummary @(0.5, 1.0, 2.0, 1.0, 1.0)
        $s.Count | Should -Be 5
        $s.Min | Should -Be 0.5
        $s.Median | Should -Be 1.0
        $s.Max | Should -Be 2.0
        $s.GeoMean | Should -BeGreaterThan 0.9999
        $s.GeoMean | Should -BeLessThan 1.0001
        $s.Wins | Should -Be 4
    }
    It 'brackets the median with an interval inside the range, the same for the same data' {
        $r = [double[]](1..41 | ForEach-Object { 0.8 + 0.01 * $_ })
        $a = Get-RatioSummary $r
        $b = Get-RatioSummary $r
        $a.CiLow | Should -BeLessOrEqual $a.Median
        $a.CiHigh | Should -BeGreaterOrEqual $a.Median
        $a.CiLow | Should -BeGreaterThan $a.Min
        $a.CiHigh | Should -BeLessThan $a.Max
        $b.CiLow | Should -Be $a.CiLow
        $b.CiHigh | Should -Be $a.CiHigh
    }
    It 'narrows the interval as rounds are added' {
        $rng = [System.Random]::new(7)
        $few = [double[]](1..10 | ForEach-Object { 0.8 + 0.4 * $rng.NextDouble() })
        $many = [double[]](1..200 | ForEach-Object { 0.8 + 0.4 * $rng.NextDouble() })
        $f = Get-RatioSummary $few; $m = Get-RatioSummary $many
        ($m.CiHigh - $m.CiLow) | Should -BeLessThan ($f.CiHigh - $f.CiLow)
    }
    It 'refuses an empty set rather than printing NaN' {
        { Get-RatioSummary ([double[]]@()) } | Should -Throw '*no ratios*'
    }
    It 'refuses a ratio from a round where one side did no I/O (<Bad>)' -TestCases @(
        @{ Bad = 0.0 }, @{ Bad = [double]::PositiveInfinity }, @{ Bad = [double]::NaN }, @{ Bad = -1.0 }
    ) {
        param($Bad)
        { Get-RatioSummary @(1.0, $Bad, 0.9) } | Should -Throw '*not a positive finite number*'
    }
}
