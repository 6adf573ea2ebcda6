# The statistics every bench/ script reports, in one place: medians of alternating rounds, and how far a median of
# per-round ratios can be trusted. On these 2-vCPU machines two back-to-back runs differ by 5-20% (kernel time), so a
# median of 42 ratios is only good to about +-0.02: the bootstrap interval says so with each figure.
Set-StrictMode -Version Latest

function Get-Median {
    param([double[]] $Value)
    $s = [double[]]$Value.Clone()
    [array]::Sort($s)
    $n = $s.Length
    if ($n -eq 0) { return [double]::NaN }
    if ($n % 2) { $s[($n - 1) / 2] } else { ($s[$n / 2 - 1] + $s[$n / 2]) / 2 }
}

function Get-RatioSummary {
    <#
    .SYNOPSIS
        Min, median, max and geometric mean of per-round ratios, and a 95% percentile-bootstrap interval of the median
        (resamples with a fixed seed, so the same data prints the same interval).
    #>
    param([double[]] $Ratio, [int] $Resamples = 2000, [int] $Seed = 1)
    $n = $Ratio.Length
    if ($n -eq 0) { throw 'Get-RatioSummary: no ratios (did every round fail?)' }
    foreach ($r in $Ratio) {
        # 0, infinity or NaN is a round where one side did no I/O: it would drag the geometric mean to 0 or infinity.
        if (-not ($r -gt 0 -and [double]::IsFinite($r))) { throw "Get-RatioSummary: ratio $r is not a positive finite number (a round where one side did no I/O?); rerun that configuration" }
    }
    $rng = [System.Random]::new($Seed)
    $medians = [double[]]::new($Resamples)
    $pick = [double[]]::new($n)
    for ($i = 0; $i -lt $Resamples; $i++) {
        for ($j = 0; $j -lt $n; $j++) { $pick[$j] = $Ratio[$rng.Next($n)] }
        $medians[$i] = Get-Median $pick
    }
    [array]::Sort($medians)
    $sorted = [double[]]$Ratio.Clone()
    [array]::Sort($sorted)
    $logSum = 0.0
    foreach ($r in $Ratio) { $logSum += [math]::Log($r) }
    [pscustomobject]@{
        Count   = $n
        Min     = $sorted[0]
        Median  = Get-Median $sorted
        Max     = $sorted[$n - 1]
        GeoMean = [math]::Exp($logSum / $n)
        CiLow   = $medians[[int][math]::Floor(0.025 * ($Resamples - 1))]
        CiHigh  = $medians[[int][math]::Ceiling(0.975 * ($Resamples - 1))]
        Wins    = @($Ratio | Where-Object { $_ -ge 1 }).Count
    }
}

function Format-RatioSummary {
    # 'min / median / max' as the scripts have always printed it, and the interval beside it.
    param([Parameter(Mandatory)] $Summary)
    '{0:0.00} / {1:0.00} / {2:0.00} (95% CI of median {3:0.00}-{4:0.00})' -f $Summary.Min, $Summary.Median, $Summary.Max, $Summary.CiLow, $Summary.CiHigh
}

Export-ModuleMember -Function Get-Median, Get-RatioSummary, Format-RatioSummary
