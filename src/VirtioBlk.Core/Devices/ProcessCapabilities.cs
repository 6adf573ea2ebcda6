using System;
using System.Globalization;

namespace VirtioBlk.Core.Devices;

/// <summary>The calling process's effective capabilities, from /proc/self/status (CapEff).</summary>
public static class ProcessCapabilities
{
    private const int CapSysAdmin = 21;

    /// <summary>CAP_SYS_ADMIN, which the project's kernel and the posted series demand for every passthrough command.</summary>
    public static bool HasSysAdmin()
    {
        string? status = Sysfs.TryReadText(Sysfs.ProcSelfStatus);
        if (status is null)
        {
            return false;
        }

        foreach (string line in status.Split('\n'))
        {
            if (line.StartsWith("CapEff:", StringComparison.Ordinal)
                && ulong.TryParse(line.AsSpan("CapEff:".Length).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong caps))
            {
                return (caps & (1UL << CapSysAdmin)) != 0;
            }
        }

        return false;
    }
}
