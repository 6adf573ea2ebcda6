using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using VirtioBlk.Core.Devices;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell.Completion;

/// <summary>
/// Completes -Path with the device nodes of this machine's virtio-blk disks: each block device and, where the kernel
/// has the passthrough series, its char device ("/dev/v" -> /dev/vda, /dev/vdac0, /dev/vdb, ...). A bare name works
/// too ("vdb" -> /dev/vdb, /dev/vdbc0). Anything else (./disk.img, /dev/loop0) is completed as a file name, as
/// PowerShell would without this completer. Reads sysfs only.
/// </summary>
public sealed class VirtioBlkDevicePathCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
        string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = (wordToComplete ?? "").Trim('\'', '"');
        var results = new List<CompletionResult>();
        foreach (string disk in VirtioBlkDiscovery.EnumerateDiskNames())
        {
            string block = "/dev/" + disk;
            string? chr = DiskIdentity.CharDevicePathOf(disk);
            foreach (string path in chr is null ? new[] { block } : new[] { block, chr })
            {
                string leaf = path.Substring("/dev/".Length);
                if (path.StartsWith(word, StringComparison.Ordinal) || leaf.StartsWith(word, StringComparison.Ordinal))
                {
                    string tip = path == chr
                        ? $"{path}: passthrough char device of {block} (IORING_OP_URING_CMD)"
                        : $"{path}: virtio-blk block device{(chr is null ? "" : $" (passthrough: {chr})")}";
                    results.Add(new CompletionResult(path, path, CompletionResultType.ParameterValue, tip));
                }
            }
        }

        // Not a virtio disk's node: complete it as a file name, as PowerShell would without this completer
        // (/dev/loop0, ./disk.img).
        return results.Count > 0 ? results : CompletionCompleters.CompleteFilename(wordToComplete ?? "");
    }
}
