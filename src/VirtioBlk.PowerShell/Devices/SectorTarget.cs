using System;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using VirtioBlk.Core;
using VirtioBlk.Core.Devices;

namespace VirtioBlk.PowerShell.Devices;

/// <summary>How Read-/Write-VirtioBlkSector reach the disk.</summary>
public enum VirtioBlkIoMode
{
    /// <summary>Passthrough where the char device is usable (present, CAP_SYS_ADMIN, a combination it allows), else the block device.</summary>
    Auto,

    /// <summary>The char device /dev/vdXc0 with IORING_OP_URING_CMD.</summary>
    Passthrough,

    /// <summary>The block device with O_DIRECT.</summary>
    Block,
}

/// <summary>
/// What a -Path names, resolved once per item: the whole disk behind it, its geometry (from the core's
/// <see cref="DiskGeometry"/>, the one sysfs reader of sizes and limits), its block and passthrough nodes.
/// </summary>
internal sealed class SectorTarget
{
    private SectorTarget(string requested, string disk, string blockPath, string? charDevicePath, bool isVirtio, string? driver, DiskGeometry geometry)
    {
        Requested = requested;
        Disk = disk;
        BlockPath = blockPath;
        CharDevicePath = charDevicePath;
        IsVirtio = isVirtio;
        Driver = driver;
        Geometry = geometry;
    }

    /// <summary>-Path as given.</summary>
    internal string Requested { get; }

    /// <summary>Kernel name of the whole disk ("vdb", "loop0").</summary>
    internal string Disk { get; }

    internal string BlockPath { get; }

    /// <summary>/dev/vdXc0 when the disk has one (class vblk-generic and the node both present).</summary>
    internal string? CharDevicePath { get; }

    internal bool IsVirtio { get; }

    internal string? Driver { get; }

    internal DiskGeometry Geometry { get; }

    internal string PathFor(IoPathKind path) => path == IoPathKind.Passthrough ? CharDevicePath! : BlockPath;

    /// <summary>Resolves <paramref name="path"/> ("/dev/vdb", "/dev/vdbc0", "vdb", a by-id link); on failure, the ErrorRecord to report.</summary>
    internal static SectorTarget? Resolve(string path, out ErrorRecord? error)
    {
        error = null;
        string node = path.Trim();
        if (node.Length > 0 && !node.StartsWith('/') && !node.StartsWith('.') && File.Exists(Path.Combine(Sysfs.DevRoot, node)))
        {
            node = Path.Combine(Sysfs.DevRoot, node); // a bare kernel name: vdb, vdbc0, loop0
        }

        try
        {
            DeviceNodeInfo info = DeviceNodeInfo.Stat(node);
            switch (info.Kind)
            {
                case DeviceNodeKind.Missing:
                    error = ErrorRecords.PathNotFound(path);
                    return null;
                case DeviceNodeKind.RegularFile:
                    error = ErrorRecords.NotBlockDevice(path, "a regular file");
                    return null;
                case DeviceNodeKind.Other:
                    error = ErrorRecords.NotBlockDevice(path, Directory.Exists(node) ? "a directory" : "neither a block nor a character device");
                    return null;
                case DeviceNodeKind.CharacterDevice when !IsPassthroughNode(info):
                    error = ErrorRecords.NotBlockDevice(path, "a character device that is not a virtio-blk passthrough node (/dev/vdXc0)");
                    return null;
                case DeviceNodeKind.BlockDevice when IsPartition(info, out string? parent):
                    error = ErrorRecords.PartitionNotDisk(path, parent);
                    return null;
            }

            string disk = DiskGeometry.DiskNameOf(node);
            DiskGeometry geometry = DiskGeometry.FromSysfs(disk);
            bool isVirtio = VirtioBlkDiscovery.IsVirtioDisk(disk, out string? driver);
            string blockPath = info.Kind == DeviceNodeKind.BlockDevice ? node : Path.Combine(Sysfs.DevRoot, disk);
            return new SectorTarget(path, disk, blockPath, isVirtio ? VirtioBlkDiscovery.CharDevicePath(disk) : null, isVirtio, driver, geometry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OverflowException)
        {
            error = ErrorRecords.FromException(e, path);
            return null;
        }
    }

    private static bool IsPassthroughNode(DeviceNodeInfo info)
    {
        string? name = Sysfs.ResolveFinalPath($"/sys/dev/char/{info.DevId}") is string target ? Path.GetFileName(target) : null;
        return name is not null && Directory.Exists(Path.Combine(Sysfs.PassthroughClassRoot, name));
    }

    private static bool IsPartition(DeviceNodeInfo info, out string? parent)
    {
        parent = null;
        string? target = Sysfs.ResolveFinalPath($"/sys/dev/block/{info.DevId}");
        if (target is null || !File.Exists(Path.Combine(target, "partition")))
        {
            return false;
        }

        parent = Path.GetFileName(Path.GetDirectoryName(target));
        return true;
    }
}

/// <summary>The calling process's capabilities, from /proc/self/status (CapEff).</summary>
internal static class ProcessCapabilities
{
    private const int CapSysAdmin = 21;

    /// <summary>Whether passthrough commands will be accepted: the char device demands CAP_SYS_ADMIN for every command.</summary>
    internal static bool HasSysAdmin()
    {
        string? status = Sysfs.TryReadText("/proc/self/status");
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
