using System;
using System.Collections.Generic;
using System.IO;
using VirtioBlk.Core.Devices;

namespace VirtioBlk.PowerShell.Devices;

/// <summary>What a user-supplied disk name turned out to be.</summary>
internal enum DiskLookupKind
{
    /// <summary>A virtio-blk disk; <see cref="DiskLookup.Disk"/> is its kernel name.</summary>
    VirtioDisk,

    /// <summary>A whole block device driven by something else (loop, zram, nvme).</summary>
    OtherDisk,

    /// <summary>A partition; <see cref="DiskLookup.Disk"/> is the disk holding it.</summary>
    Partition,

    /// <summary>No block device of that name.</summary>
    NotFound,
}

internal readonly record struct DiskLookup(DiskLookupKind Kind, string Name, string? Disk, string? Driver);

/// <summary>
/// Finds virtio-blk disks and describes them from sysfs alone: nothing here opens a device node.
/// </summary>
/// <remarks>
/// A disk is virtio-blk when /sys/block/X/device/driver resolves to virtio_blk, or (driver unbound, e.g. during
/// a rebind) when /sys/block/X/device/subsystem is the virtio bus. Loop, zram, dm, md and nvme disks have
/// neither. Could move to VirtioBlk.Core with <see cref="VirtioBlkDevice"/>; see there.
/// </remarks>
internal static class VirtioBlkDiscovery
{
    private const string VirtioBlkDriver = "virtio_blk";
    private const string VirtioBus = "virtio";
    private const string CharDeviceSuffix = "c0";

    /// <summary>Kernel names of every virtio-blk disk, in allocation order (vda, vdb, ..., vdaa).</summary>
    internal static IReadOnlyList<string> EnumerateDiskNames()
    {
        var disks = new List<string>();
        foreach (string name in Sysfs.ListNames(Sysfs.BlockRoot))
        {
            if (IsVirtioDisk(name, out _))
            {
                disks.Add(name);
            }
        }

        return disks;
    }

    /// <summary>Whether /sys/block/<paramref name="name"/> is a virtio-blk disk; <paramref name="driver"/> names its driver.</summary>
    internal static bool IsVirtioDisk(string name, out string? driver)
    {
        string device = Path.Combine(Sysfs.BlockRoot, name, "device");
        driver = Sysfs.LinkTargetName(Path.Combine(device, "driver"));
        return driver == VirtioBlkDriver
            || (driver is null && Sysfs.LinkTargetName(Path.Combine(device, "subsystem")) == VirtioBus);
    }

    /// <summary>
    /// Turns what a user typed ("vdb", "/dev/vdb", "vdbc0", "/dev/vdbc0", a /dev/disk/by-* link) into a kernel
    /// name, without wildcard handling. Returns the input unchanged when it names nothing known.
    /// </summary>
    internal static string Normalize(string input)
    {
        string name = input.Trim();
        if (name.StartsWith('/'))
        {
            // Follow udev links (/dev/disk/by-id/virtio-SERIAL -> ../../vdb); a missing path stays as typed.
            try
            {
                FileSystemInfo? target = new FileInfo(name).ResolveLinkTarget(returnFinalTarget: true);
                if (target is not null)
                {
                    name = target.FullName;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }

            string devPrefix = Sysfs.DevRoot + "/";
            if (name.StartsWith(devPrefix, StringComparison.Ordinal))
            {
                name = name.Substring(devPrefix.Length);
            }
        }

        return StripCharDeviceSuffix(name);
    }

    /// <summary>"vdbc0" -> "vdb" when vdb is a block device and vdbc0 is not; anything else unchanged.</summary>
    internal static string StripCharDeviceSuffix(string name)
    {
        if (name.Length > CharDeviceSuffix.Length
            && name.EndsWith(CharDeviceSuffix, StringComparison.Ordinal)
            && !Directory.Exists(Path.Combine(Sysfs.BlockRoot, name)))
        {
            string disk = name.Substring(0, name.Length - CharDeviceSuffix.Length);
            if (Directory.Exists(Path.Combine(Sysfs.BlockRoot, disk)))
            {
                return disk;
            }
        }

        return name;
    }

    /// <summary>Classifies a normalized name (see <see cref="Normalize"/>).</summary>
    internal static DiskLookup Lookup(string name)
    {
        if (name.Length == 0 || name.Contains('/') || name is "." or "..")
        {
            return new DiskLookup(DiskLookupKind.NotFound, name, null, null);
        }

        if (Directory.Exists(Path.Combine(Sysfs.BlockRoot, name)))
        {
            return IsVirtioDisk(name, out string? driver)
                ? new DiskLookup(DiskLookupKind.VirtioDisk, name, name, driver)
                : new DiskLookup(DiskLookupKind.OtherDisk, name, null, driver);
        }

        // Partitions are not in /sys/block; /sys/class/block/vda1 -> .../block/vda/vda1.
        string classEntry = Path.Combine("/sys/class/block", name);
        if (File.Exists(Path.Combine(classEntry, "partition")))
        {
            string? partition = Sysfs.ResolveFinalPath(classEntry);
            string? disk = partition is null ? null : Path.GetFileName(Path.GetDirectoryName(partition));
            return new DiskLookup(DiskLookupKind.Partition, name, disk, null);
        }

        return new DiskLookup(DiskLookupKind.NotFound, name, null, null);
    }

    /// <summary>The passthrough char device of a disk, or null (see <see cref="VirtioBlkDevice.CharDevicePath"/>).</summary>
    internal static string? CharDevicePath(string disk)
    {
        string charName = disk + CharDeviceSuffix;
        string node = Path.Combine(Sysfs.DevRoot, charName);
        return Directory.Exists(Path.Combine(Sysfs.PassthroughClassRoot, charName)) && File.Exists(node) ? node : null;
    }

    /// <summary>
    /// Describes one disk. Throws <see cref="IOException"/> (including <see cref="InvalidDataException"/>) when a
    /// required attribute can't be read, e.g. the disk was unplugged meanwhile.
    /// </summary>
    internal static VirtioBlkDevice Read(string name)
    {
        string block = Path.Combine(Sysfs.BlockRoot, name);
        string queue = Path.Combine(block, "queue");

        // Size and I/O limits come from the core's reader, the same numbers the I/O cmdlets split requests by.
        DiskGeometry geometry = DiskGeometry.FromSysfs(name);
        long sectors = checked((long)geometry.Sectors);
        int queueCount = CountHardwareQueues(block);
        bool ioPoll = geometry.IoPoll;
        (int pollQueues, string pollSource) = CountPollQueues(name, queueCount, ioPoll);
        string featureBits = Sysfs.TryReadText(Path.Combine(block, "device", "features"))?.Trim() ?? "";
        string serial = Sysfs.TryReadText(Path.Combine(block, "serial")) ?? "";
        DiskUsage usage = DiskUsage.Inspect(name);

        return new VirtioBlkDevice
        {
            Name = name,
            Path = Path.Combine(Sysfs.DevRoot, name),
            DeviceNumber = Sysfs.ReadText(Path.Combine(block, "dev")).Trim(),
            VirtioDevice = Sysfs.LinkTargetName(Path.Combine(block, "device")) ?? "",
            CharDevicePath = CharDevicePath(name),
            Sectors = sectors,
            SizeBytes = checked(sectors * 512),
            LogicalBlockSize = geometry.LogicalBlockSize,
            PhysicalBlockSize = geometry.PhysicalBlockSize,
            MaxTransferBytes = geometry.MaxTransferBytes,
            MaxHwTransferBytes = geometry.MaxHwTransferBytes,
            MaxSegments = geometry.MaxSegments,
            ReadOnly = geometry.ReadOnly,
            Serial = serial.Length == 0 ? null : serial,
            QueueCount = queueCount,
            PollQueues = pollQueues,
            PollQueuesSource = pollSource,
            IoPoll = ioPoll,
            Scheduler = ActiveScheduler(Sysfs.TryReadText(Path.Combine(queue, "scheduler"))),
            WriteCache = Sysfs.TryReadText(Path.Combine(queue, "write_cache")),
            NrRequests = (int)(Sysfs.TryReadInt64(Path.Combine(queue, "nr_requests")) ?? 0),
            FeatureBits = featureBits,
            Features = VirtioFeatures.Decode(featureBits),
            Partitions = usage.Partitions,
            MountPoints = usage.MountPoints,
            Holders = Sysfs.ListNames(Path.Combine(block, "holders")),
            SwapAreas = usage.SwapAreas,
            InUse = usage.IsInUse,
        };
    }

    /// <summary>"none [mq-deadline] kyber" -> "mq-deadline"; null when the file is missing.</summary>
    internal static string? ActiveScheduler(string? text)
    {
        if (text is null)
        {
            return null;
        }

        int open = text.IndexOf('[');
        int close = open < 0 ? -1 : text.IndexOf(']', open + 1);
        return open >= 0 && close > open ? text.Substring(open + 1, close - open - 1) : text.Trim();
    }

    private static int CountHardwareQueues(string block)
    {
        int count = 0;
        foreach (string entry in Sysfs.ListNames(Path.Combine(block, "mq")))
        {
            if (entry.Length > 0 && uint.TryParse(entry, out _))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>
    /// Poll queues of one disk. sysfs has no per-hctx type (mq/N holds only cpu_list and tag counts), so:
    /// 1. debugfs, when mounted and readable: count /sys/kernel/debug/block/X/hctxN/type equal to "poll" (exact);
    /// 2. else queue/io_poll = 0 means none;
    /// 3. else what virtio_blk's init_vq computed at probe: min(poll_queues parameter, queues - 1). The module
    ///    parameter is global and writable, so a value changed after the disk was probed makes this an estimate.
    /// </summary>
    private static (int Count, string Source) CountPollQueues(string name, int queueCount, bool ioPoll)
    {
        string debugfs = Path.Combine(Sysfs.DebugfsBlockRoot, name);
        int seen = 0, poll = 0;
        foreach (string entry in Sysfs.ListNames(debugfs))
        {
            if (entry.StartsWith("hctx", StringComparison.Ordinal)
                && Sysfs.TryReadText(Path.Combine(debugfs, entry, "type")) is string type)
            {
                seen++;
                if (type.Trim() == "poll")
                {
                    poll++;
                }
            }
        }

        if (seen > 0)
        {
            return (poll, "debugfs");
        }

        if (!ioPoll)
        {
            return (0, "queue/io_poll");
        }

        long parameter = Sysfs.TryReadInt64(Path.Combine(Sysfs.VirtioBlkModuleParameters, "poll_queues")) ?? 0;
        return ((int)Math.Clamp(parameter, 0, Math.Max(queueCount - 1, 0)), "poll_queues parameter");
    }
}
