#Requires -Version 7.4
<#
.SYNOPSIS
    Pools the rounds of several saved runs of bench/Compare-CPeer.ps1 or bench/Vm-CPeer.ps1 and prints, per
    configuration, the per-round module / C ratios summarised: count, min / median / max, geometric mean, the 95%
    bootstrap interval of the median, and how many rounds the module won. This is how the README's pooled figures are
    made, e.g.:
        dotnet pwsh -NoProfile -c "& bench/Summarize-Ratios.ps1 bench/results/compare-cpeer-3.json bench/results/compare-cpeer-4.json | Format-Table"
#>
param([Parameter(Mandatory, Position = 0, ValueFromRemainingArguments)] [string[]] $Path)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'BenchStats.psm1') -Force

$pooled = [ordered]@{}
foreach ($p in $Path) {
    $doc = Get-Content -Raw $p | ConvertFrom-Json
    if (-not ($doc.PSObject.Properties['Results'] -and $doc.Results)) { throw "${p}: not a result of Compare-CPeer.ps1 or Vm-CPeer.ps1 (it has no Results)" }
    foreach ($r in $doc.Results) {
        # Compare-CPeer names a configuration and saves IopsRatio and CpuRatio per round; Vm-CPeer names a path and
        # saves Ratio (IOPS).
        $name = if ($r.PSObject.Properties['Configuration']) { $r.Configuration } else { $r.Path }
        if (-not $pooled.Contains($name)) { $pooled[$name] = @{ Iops = [Collections.Generic.List[double]]::new(); Cpu = [Collections.Generic.List[double]]::new() } }
        foreach ($run in $r.Runs) {
            if ($run.PSObject.Properties['IopsRatio']) { $pooled[$name].Iops.Add($run.IopsRatio); $pooled[$name].Cpu.Add($run.CpuRatio) }
            else { $pooled[$name].Iops.Add($run.Ratio) }
        }
    }
}
foreach ($name in $pooled.Keys) {
    foreach ($figure in 'Iops', 'Cpu') {
        $v = $pooled[$name][$figure]
        if ($v.Count -eq 0) { continue }
        $s = Get-RatioSummary $v.ToArray()
        [pscustomobject]@{
            Configuration = $name; Figure = $figure; Rounds = $s.Count
            Ratio = Format-RatioSummary $s; GeoMean = [math]::Round($s.GeoMean, 3); Wins = $s.Wins
        }
    }
}
