using System;
using System.Collections.Generic;
using System.IO;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// Finds virtio-blk disks and describes them from sysfs alone: nothing here opens a device node.
/// </summary>
/// <remarks>
/// A disk is virtio-blk when /sys/block/X/device/driver resolves to virtio_blk, or (driver unbound, e.g. during
/// a rebind) when /sys/block/X/device/subsystem is the virtio bus. Loop, zram, dm, md and nvme disks have
/// neither. What a single path is (disk, partition, char device) is <see cref="DiskIdentity"/>'s to say.
/// </remarks>
public static class VirtioBlkDiscovery
{
    /// <summary>Kernel names of every virtio-blk disk, in allocation order (vda, vdb, ..., vdaa).</summary>
    public static IReadOnlyList<string> EnumerateDiskNames()
    {
        var disks = new List<string>();
        foreach (string name in Sysfs.ListNames(Sysfs.BlockRoot))
        {
            if (DiskIdentity.IsVirtioDisk(name, out _))
            {
                disks.Add(name);
            }
        }

        return disks;
    }

    /// <summary>
    /// Describes one disk. Throws <see cref="SysfsException"/> when a
    /// required attribute can't be read, e.g. the disk was unplugged meanwhile.
    /// </summary>
    public static VirtioBlkDevice Read(string name)
    {
        string block = Path.Combine(Sysfs.BlockRoot, name);
        string queue = Path.Combine(block, "queue");

        // Size and I/O limits come from the core's reader, the same numbers the I/O cmdlets split requests by.
        DiskGeometry geometry = DiskGeometry.FromSysfs(name);
        long sectors = geometry.SizeBytes <= long.MaxValue ? (long)geometry.Sectors
            : throw new SysfsException(Path.Combine(block, "size"), "states more than 8 EiB");
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
            CharDevicePath = DiskIdentity.CharDevicePathOf(name),
            Sectors = sectors,
            SizeBytes = (long)geometry.SizeBytes,
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
            Features = new TextList(VirtioFeatures.Decode(featureBits)),
            Partitions = new TextList(usage.Partitions),
            MountPoints = new TextList(usage.MountPoints),
            Holders = new TextList(Sysfs.ListNames(Path.Combine(block, "holders"))),
            SwapAreas = new TextList(usage.SwapAreas),
            InUse = usage.IsInUse,
        };
    }

    /// <summary>"none [mq-deadline] kyber" -> "mq-deadline"; null when the file is missing.</summary>
    public static string? ActiveScheduler(string? text)
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
