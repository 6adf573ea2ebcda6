using System.Globalization;

namespace VirtioBlk.PowerShell.Devices;

/// <summary>Binary-unit sizes for display ("256 GiB", "1.5 MiB"); used by the format views.</summary>
public static class ByteSize
{
    private static readonly string[] Units = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

    public static string Format(long bytes)
    {
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < Units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString(unit == 0 ? "0" : "0.#", CultureInfo.InvariantCulture) + " " + Units[unit];
    }
}
