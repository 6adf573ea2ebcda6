using System;
using System.Collections.Generic;
using System.Management.Automation;
using VirtioBlk.Core.Devices;

namespace VirtioBlk.PowerShell;

/// <summary>
/// Turns -Path / -LiteralPath into device paths the way Get-Content does: relative to $PWD, ~ expanded, PSDrives
/// and (for -Path) wildcards, through the FileSystem provider. A bare kernel name (vdb, vdbc0, loop0) that names
/// a disk stays a kernel name, as it always was, wherever $PWD is.
/// </summary>
internal static class DevicePaths
{
    /// <summary>One item: what the user typed and what the core is given.</summary>
    internal readonly record struct Item(string Requested, string Resolved);

    /// <summary>The paths to act on; an item that resolves to nothing is reported on <paramref name="cmdlet"/> and skipped.</summary>
    internal static List<Item> Resolve(PSCmdlet cmdlet, IEnumerable<string> paths, bool literal)
    {
        var items = new List<Item>();
        foreach (string requested in paths)
        {
            string typed = requested.Trim();
            if (!typed.Contains('/') && !typed.StartsWith('~') && (DiskIdentity.DiskNamed(typed) is not null || IsKernelName(typed)))
            {
                items.Add(new Item(requested, typed));
                continue;
            }

            try
            {
                if (!literal && WildcardPattern.ContainsWildcardCharacters(typed))
                {
                    var matches = cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath(typed, out ProviderInfo provider);
                    if (!IsFileSystem(cmdlet, requested, provider))
                    {
                        continue;
                    }

                    foreach (string match in matches)
                    {
                        items.Add(new Item(match, match));
                    }

                    continue;
                }

                string resolved = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(typed, out ProviderInfo p, out _);
                if (IsFileSystem(cmdlet, requested, p))
                {
                    items.Add(new Item(requested, resolved));
                }
            }
            catch (Exception e) when (e is ItemNotFoundException or DriveNotFoundException or ProviderNotFoundException or NotSupportedException or ArgumentException)
            {
                cmdlet.WriteError(ErrorRecords.PathNotFound(requested));
            }
        }

        return items;
    }

    /// <summary>A name the kernel uses for a disk or its passthrough node, even where /dev lacks the node.</summary>
    private static bool IsKernelName(string name)
        => name.Length > 0 && System.IO.Directory.Exists(System.IO.Path.Combine(Sysfs.PassthroughClassRoot, name));

    private static bool IsFileSystem(PSCmdlet cmdlet, string requested, ProviderInfo provider)
    {
        if (provider.Name == "FileSystem")
        {
            return true;
        }

        cmdlet.WriteError(ErrorRecords.NotBlockDevice(requested, $"a path of the {provider.Name} provider"));
        return false;
    }
}
