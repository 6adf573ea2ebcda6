using System;
using System.Globalization;

namespace VirtioBlk.PowerShell.Formatting;

/// <summary>Numbers for narrow table columns: as many digits as fit, then k/M/G, never cut by the table.</summary>
public static class Compact
{
    /// <summary>
    /// <paramref name="value"/> in at most <paramref name="width"/> characters: "73.6", "1,234", "123,456", "1.23M".
    /// Below 100 one decimal is kept (a p99 of 73.6 us stays 73.6).
    /// </summary>
    public static string Number(double value, int width)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        if (double.IsNaN(value)) return "-";
        string s = Math.Abs(value) < 100 && value != Math.Floor(value) ? value.ToString("0.0", c) : value.ToString("#,0", c);
        if (s.Length <= width) return s;
        string[] units = { "k", "M", "G", "T", "P" };
        double v = value;
        foreach (string u in units)
        {
            v /= 1000;
            if (Math.Abs(v) >= 999.5) continue;
            foreach (string f in new[] { "0.##", "0.#", "0" })
            {
                string t = v.ToString(f, c) + u;
                if (t.Length <= width) return t;
            }
        }

        return value.ToString("0.#E+0", c);
    }
}
