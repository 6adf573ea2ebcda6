using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;

namespace VirtioBlk.PowerShell.Benchmark;

/// <summary>Which way a figure gets better.</summary>
public enum VirtioBlkFigureDirection
{
    HigherIsBetter,
    LowerIsBetter,
}

/// <summary>One figure of two benchmark results side by side (Compare-VirtioBlkBenchmark).</summary>
public sealed class VirtioBlkBenchmarkFigure
{
    public string HostName { get; set; } = "";
    public string Device { get; set; } = "";

    /// <summary>Iops, BandwidthMiBps, Lat/Clat/Slat + Mean/P50/P90/P99/P99_9/P99_99/Max (microseconds), Errors, Mismatches.</summary>
    public string Figure { get; set; } = "";
    public string Unit { get; set; } = "";
    public VirtioBlkFigureDirection Direction { get; set; }
    public double? Reference { get; set; }
    public double? Difference { get; set; }

    /// <summary>Difference / Reference; null when the reference is 0 or a side lacks the figure.</summary>
    public double? Ratio { get; set; }

    /// <summary>The threshold in percent this figure was judged against.</summary>
    public double ThresholdPercent { get; set; }

    /// <summary>Worse than the reference by more than the threshold (for error counts: any increase).</summary>
    public bool Regressed { get; set; }

    public DateTimeOffset? ReferenceTime { get; set; }
    public DateTimeOffset? DifferenceTime { get; set; }
}

/// <summary>
/// Reads benchmark results in every form they arrive in -- the live object, Import-Clixml or remoting
/// (Deserialized.*), ConvertFrom-Json (PSCustomObject) -- by property name, and compares two of them figure by figure.
/// </summary>
public static class BenchmarkBaseline
{
    /// <summary>The knobs two results must share to be compared (the device and host may differ: that is the point).</summary>
    public static readonly string[] Knobs =
    {
        "Mode", "Operation", "ReadPercent", "BlockSize", "QueueDepth", "SubmitBatch", "CompleteBatch", "Poll", "FixedBuffers",
        "RegisteredFiles", "Vectored", "Buffered", "SqPoll", "Threads", "Pattern", "Seed", "Buffer", "Verify", "RampSeconds",
        "RateIops", "RunSeconds", "IoCount", "RangeOffset", "RangeLength", "LatencyRecorded",
    };

    private static readonly (string Kind, string Prefix)[] LatencyKinds =
    {
        ("TotalLatency", "Lat"), ("CompletionLatency", "Clat"), ("SubmitLatency", "Slat"),
    };

    private static readonly string[] Percentiles = { "MeanUs", "P50Us", "P90Us", "P99Us", "P99_9Us", "P99_99Us", "MaxUs" };

    /// <summary>Null when <paramref name="o"/> looks like a result; else why not.</summary>
    public static string? WhyNotAResult(PSObject? o)
    {
        if (o is null) return "it is null";
        if (o.BaseObject is VirtioBlkBenchmarkResult) return null;
        foreach (string name in new[] { "Iops", "TotalIos", "QueueDepth", "BlockSize", "Operation" })
        {
            if (o.Properties[name] is null) return $"it has no {name} property (its type is {o.TypeNames.FirstOrDefault() ?? "unknown"})";
        }
        return null;
    }

    public static object? Value(PSObject o, string name)
    {
        object? v = o.Properties[name]?.Value;
        return v is PSObject p ? p.BaseObject : v;
    }

    public static string Text(PSObject o, string name) => Value(o, name) switch
    {
        null => "",
        bool b => b ? "True" : "False",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        object x => x.ToString() ?? "",
    };

    public static double? Number(PSObject o, string name)
    {
        object? v = Value(o, name);
        if (v is null or string { Length: 0 }) return null;
        try
        {
            return Convert.ToDouble(v, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            return null;
        }
    }

    /// <summary>A latency figure: the nested summary (live, CliXml, JSON), or the flat column of schema 2.</summary>
    public static double? Latency(PSObject o, string kind, string prefix, string percentile)
    {
        // The raw value: a deserialized summary keeps its figures as note properties of the PSObject itself.
        if (o.Properties[kind]?.Value is { } nested && PSObject.AsPSObject(nested) is { } n && n.Properties[percentile] is not null)
        {
            return Number(n, percentile);
        }

        return Number(o, prefix + percentile);
    }

    public static string HostOf(PSObject o)
    {
        string pc = Text(o, "PSComputerName");
        return pc.Length > 0 ? pc : Text(o, "HostName");
    }

    public static DateTimeOffset? TimeOf(PSObject o) => Value(o, "StartTime") switch
    {
        DateTimeOffset d => d,
        DateTime d => new DateTimeOffset(d),
        string s when DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out DateTimeOffset d) => d,
        _ => null,
    };

    /// <summary>"QueueDepth 32 vs 8, Seed 1 vs 2": the knobs that differ (a knob one side lacks is not compared).</summary>
    public static string KnobDifferences(PSObject reference, PSObject difference)
    {
        var diffs = new List<string>();
        foreach (string k in Knobs)
        {
            if (reference.Properties[k] is null || difference.Properties[k] is null) continue;
            string a = Text(reference, k), b = Text(difference, k);
            if (Number(reference, k) is double x && Number(difference, k) is double y ? x != y : !string.Equals(a, b, StringComparison.OrdinalIgnoreCase))
            {
                diffs.Add($"{k} {a} vs {b}");
            }
        }
        return string.Join(", ", diffs);
    }

    /// <summary>One figure object per figure: IOPS, bandwidth, every latency percentile of every kind, errors, mismatches.</summary>
    public static IEnumerable<VirtioBlkBenchmarkFigure> Compare(PSObject reference, PSObject difference, double thresholdPercent)
    {
        string host = HostOf(difference), device = Text(difference, "Device");
        DateTimeOffset? rt = TimeOf(reference), dt = TimeOf(difference);
        double t = thresholdPercent / 100;

        VirtioBlkBenchmarkFigure Make(string figure, string unit, VirtioBlkFigureDirection dir, double? r, double? d, bool count = false)
        {
            double? ratio = r is double a && d is double b && a != 0 ? Math.Round(b / a, 4) : null;
            bool regressed = count
                ? (d ?? 0) > (r ?? 0)
                : ratio is double q && (dir == VirtioBlkFigureDirection.HigherIsBetter ? q < 1 - t : q > 1 + t);
            return new VirtioBlkBenchmarkFigure
            {
                HostName = host, Device = device, Figure = figure, Unit = unit, Direction = dir, Reference = r, Difference = d,
                Ratio = ratio, ThresholdPercent = thresholdPercent, Regressed = regressed, ReferenceTime = rt, DifferenceTime = dt,
            };
        }

        yield return Make("Iops", "IOPS", VirtioBlkFigureDirection.HigherIsBetter, Number(reference, "Iops"), Number(difference, "Iops"));
        yield return Make("BandwidthMiBps", "MiB/s", VirtioBlkFigureDirection.HigherIsBetter, Number(reference, "BandwidthMiBps"), Number(difference, "BandwidthMiBps"));
        foreach ((string kind, string prefix) in LatencyKinds)
        {
            foreach (string p in Percentiles)
            {
                double? r = Latency(reference, kind, prefix, p), d = Latency(difference, kind, prefix, p);
                if (r is null && d is null) continue; // not recorded on either side (-NoLatency)
                yield return Make(prefix + p, "us", VirtioBlkFigureDirection.LowerIsBetter, r, d);
            }
        }
        yield return Make("Errors", "I/Os", VirtioBlkFigureDirection.LowerIsBetter, Number(reference, "Errors") ?? 0, Number(difference, "Errors") ?? 0, count: true);
        yield return Make("Mismatches", "blocks", VirtioBlkFigureDirection.LowerIsBetter, Number(reference, "Mismatches") ?? 0, Number(difference, "Mismatches") ?? 0, count: true);
    }
}

/// <summary>Accepts "10%", "10" or 10 for a threshold in percent.</summary>
public sealed class PercentTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        object v = inputData is PSObject p ? p.BaseObject : inputData;
        if (v is string s)
        {
            s = s.Trim();
            if (s.EndsWith('%')) s = s[..^1].TrimEnd();
            if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
            throw new ArgumentTransformationMetadataException($"'{inputData}' is not a percentage; write it as 10% or 10.");
        }
        return v;
    }
}
