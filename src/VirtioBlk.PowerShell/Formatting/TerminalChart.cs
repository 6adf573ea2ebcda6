using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Text;

namespace VirtioBlk.PowerShell.Formatting;

/// <summary>
/// Pictures of a benchmark result for the terminal: a horizontal bar histogram of the latency distribution and a
/// sparkline of the per-second IOPS. Used by the "Chart" views and the IopsSparkline property (module/*.ps1xml).
/// Everything takes plain objects and reads properties by name, so a result deserialized from another machine
/// (remoting, Import-Clixml) draws the same as a live one. <c>ascii</c> selects characters every terminal and log
/// shows; the views pass it when NO_COLOR is set or $PSStyle.OutputRendering is PlainText.
/// </summary>
public static class TerminalChart
{
    private const string Blocks = "▁▂▃▄▅▆▇█";
    private const string AsciiLevels = "_.-:=+*#";
    private static readonly string[] Eighths = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };

    /// <summary>One character per sample, scaled from 0 to the largest; at most <paramref name="width"/> characters (samples averaged in groups).</summary>
    public static string Sparkline(object? values, bool ascii, int width = 60)
    {
        double[] v = Numbers(values);
        if (v.Length == 0)
        {
            return "";
        }

        if (v.Length > width)
        {
            int group = (v.Length + width - 1) / width;
            v = Enumerable.Range(0, (v.Length + group - 1) / group)
                .Select(i => v.Skip(i * group).Take(group).Average()).ToArray();
        }

        double max = v.Max();
        string levels = ascii ? AsciiLevels : Blocks;
        var text = new StringBuilder(v.Length);
        foreach (double x in v)
        {
            int level = max <= 0 ? 0 : (int)Math.Round(x / max * (levels.Length - 1));
            text.Append(levels[Math.Clamp(level, 0, levels.Length - 1)]);
        }

        return text.ToString();
    }

    /// <summary>
    /// One line per latency bucket: its upper bound, count, share, and a bar as long as the share of the largest
    /// bucket. Buckets are objects with UpToMicroseconds, Count and Percent (LatencyBucket, or its deserialized form).
    /// </summary>
    public static string Histogram(object? buckets, bool ascii, int barWidth = 40)
    {
        var rows = Items(buckets).Select(b => (
            UpTo: Number(Property(b, "UpToMicroseconds")),
            Count: (long)Number(Property(b, "Count")),
            Percent: Number(Property(b, "Percent")))).ToList();
        if (rows.Count == 0)
        {
            return "(no latency recorded: run without -NoLatency)";
        }

        long most = Math.Max(1, rows.Max(r => r.Count));
        var text = new StringBuilder();
        text.Append("  <= usec        count       %\n");
        foreach (var r in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {r.UpTo,8:0.##} {r.Count,12:N0} {r.Percent,6:0.00}% |");
            text.Append(Bar((double)r.Count / most * barWidth, ascii));
            text.Append('\n');
        }

        return text.ToString().TrimEnd('\n');
    }

    /// <summary>The whole Chart view of one result: a title, the latency histogram, the IOPS sparkline with its range.</summary>
    public static string Render(object? result, bool ascii)
    {
        if (result is null)
        {
            return "";
        }

        var r = PSObject.AsPSObject(result);
        string S(string name) => Convert.ToString(Property(r, name), CultureInfo.InvariantCulture) ?? "";
        double[] samples = Numbers(Property(r, "IopsPerSecond"));
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"{S("Path")} ({S("Mode")}{(Truthy(Property(r, "Poll")) ? ", polled" : "")}): {S("Operation").ToLowerInvariant()}, bs={S("BlockSize")}, iodepth={S("QueueDepth")}, threads={S("Threads")}: {Number(Property(r, "Iops")):N0} IOPS, {Number(Property(r, "BandwidthMiBps")):N1} MiB/s\n");
        text.Append("\nlatency distribution (total latency per I/O)\n");
        text.Append(Histogram(Property(r, "LatencyHistogram"), ascii));
        text.Append("\n\nIOPS per second");
        if (samples.Length > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" ({samples.Length} samples, min {samples.Min():N0}, max {samples.Max():N0})\n  ");
            text.Append(Sparkline(samples, ascii));
        }
        else
        {
            text.Append("\n  (the run was shorter than a second)");
        }

        return text.ToString();
    }

    private static string Bar(double length, bool ascii)
    {
        int whole = (int)Math.Floor(length);
        if (ascii)
        {
            return new string('#', Math.Max(whole, length > 0 ? 1 : 0));
        }

        int eighths = (int)Math.Round((length - whole) * 8);
        if (eighths == 8)
        {
            whole++;
            eighths = 0;
        }

        string bar = new string('█', whole) + Eighths[eighths];
        return bar.Length == 0 && length > 0 ? "▏" : bar;
    }

    private static IEnumerable<object> Items(object? value)
    {
        value = value is PSObject p ? p.BaseObject : value;
        if (value is null || value is string)
        {
            yield break;
        }

        if (value is IEnumerable e)
        {
            foreach (object? item in e)
            {
                if (item is not null)
                {
                    yield return item;
                }
            }
        }
    }

    private static double[] Numbers(object? values) => Items(values).Select(Number).ToArray();

    private static object? Property(object item, string name) => PSObject.AsPSObject(item).Properties[name]?.Value;

    private static double Number(object? value)
    {
        value = value is PSObject p ? p.BaseObject : value;
        return value is null ? 0 : Convert.ToDouble(value, CultureInfo.InvariantCulture);
    }

    private static bool Truthy(object? value) => (value is PSObject p ? p.BaseObject : value) is true;
}
