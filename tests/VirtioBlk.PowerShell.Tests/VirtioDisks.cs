using System;
using System.IO;
using System.Linq;
using Xunit;

// The part of Require only the cmdlet tests need; the rest is tests/Shared/TestPrerequisites.cs.
namespace VirtioBlk.Tests.Support;

/// <summary>The virtio-blk disks a view test needs.</summary>
internal static partial class Require
{
    /// <summary>The whole disks this machine's virtio_blk driver has bound (vda, vdb, ...), from sysfs alone.</summary>
    public static string[] VirtioDisks()
        => Directory.Exists("/sys/block")
            ? Directory.GetDirectories("/sys/block")
                .Where(d => new FileInfo(Path.Combine(d, "device/driver")).LinkTarget is string t && Path.GetFileName(t) == "virtio_blk")
                .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray()
            : Array.Empty<string>();

    /// <summary>The first virtio-blk disk, or a skip: the device views and Get-VirtioBlkDevice need one.</summary>
    public static string VirtioDisk()
    {
        string[] disks = VirtioDisks();
        if (disks.Length == 0) Assert.Skip("no virtio-blk disk on this machine");
        return disks[0];
    }
}
