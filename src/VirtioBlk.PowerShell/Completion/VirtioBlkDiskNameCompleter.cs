using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using VirtioBlk.Core.Devices;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell.Completion;

/// <summary>
/// Completes -Name with the virtio-blk disks of this machine: "v" -> vda, vdb; "/dev/v" -> /dev/vda. The tooltip
/// shows size, serial and whether passthrough is available. Reads sysfs only.
/// </summary>
public sealed class VirtioBlkDiskNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
        string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = (wordToComplete ?? "").Trim('\'', '"');
        string prefix = word.StartsWith("/dev/", StringComparison.Ordinal) ? "/dev/" : "";
        var pattern = WildcardPattern.Get(word.Substring(prefix.Length) + "*", WildcardOptions.IgnoreCase);

        var results = new List<CompletionResult>();
        foreach (string disk in VirtioBlkDiscovery.EnumerateDiskNames())
        {
            if (!pattern.IsMatch(disk))
            {
                continue;
            }

            string text = prefix + disk;
            results.Add(new CompletionResult(text, disk, CompletionResultType.ParameterValue, ToolTip(disk)));
        }

        return results;
    }

    private static string ToolTip(string disk)
    {
        string size = Sysfs.TryReadInt64($"{Sysfs.BlockRoot}/{disk}/size") is long sectors
            ? ByteSize.Format(sectors * 512)
            : "size unknown";
        string? serial = Sysfs.TryReadText($"{Sysfs.BlockRoot}/{disk}/serial");
        string passthrough = DiskIdentity.CharDevicePathOf(disk) is string node ? $", passthrough {node}" : "";
        return string.IsNullOrEmpty(serial)
            ? $"/dev/{disk}, {size}{passthrough}"
            : $"/dev/{disk}, {size}, serial {serial}{passthrough}";
    }
}
