using System;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// One virtio-blk disk as sysfs describes it. Built by <see cref="VirtioBlkDiscovery"/> without opening the disk.
/// </summary>
public sealed class VirtioBlkDevice
{
    /// <summary>Kernel name of the disk: "vda".</summary>
    public string Name { get; internal set; } = "";

    /// <summary>The block device node: "/dev/vda".</summary>
    public string Path { get; internal set; } = "";

    /// <summary>"major:minor" from /sys/block/X/dev.</summary>
    public string DeviceNumber { get; internal set; } = "";

    /// <summary>The virtio device the disk sits on ("virtio1"), the target of /sys/block/X/device.</summary>
    public string VirtioDevice { get; internal set; } = "";

    /// <summary>
    /// The passthrough char device ("/dev/vdac0") when the kernel registered it in class vblk-generic and the node
    /// exists; null on kernels without the (unmerged) passthrough series.
    /// </summary>
    public string? CharDevicePath { get; internal set; }

    /// <summary>True when <see cref="CharDevicePath"/> is set.</summary>
    public bool PassthroughAvailable => CharDevicePath is not null;

    /// <summary>Capacity in bytes: <see cref="Sectors"/> * 512.</summary>
    public long SizeBytes { get; internal set; }

    /// <summary>Capacity in 512-byte sectors (/sys/block/X/size), whatever the logical block size.</summary>
    public long Sectors { get; internal set; }

    /// <summary>queue/logical_block_size: the O_DIRECT alignment unit.</summary>
    public int LogicalBlockSize { get; internal set; }

    /// <summary>queue/physical_block_size.</summary>
    public int PhysicalBlockSize { get; internal set; }

    /// <summary>
    /// queue/max_sectors_kb * 1024: the largest request the block layer builds for this disk (bigger I/O on
    /// /dev/vdX is split to it).
    /// </summary>
    public long MaxTransferBytes { get; internal set; }

    /// <summary>
    /// queue/max_hw_sectors_kb * 1024: the device's own limit, which also bounds one passthrough command on the
    /// char device (passthrough requests are mapped against the hardware limit, not the soft one).
    /// </summary>
    public long MaxHwTransferBytes { get; internal set; }

    /// <summary>queue/max_segments: the most scatter-gather segments in one request.</summary>
    public int MaxSegments { get; internal set; }

    /// <summary>/sys/block/X/ro is 1 (VIRTIO_BLK_F_RO or set read-only by an admin).</summary>
    public bool ReadOnly { get; internal set; }

    /// <summary>/sys/block/X/serial (the virtio GET_ID string), or null when the device reports none.</summary>
    public string? Serial { get; internal set; }

    /// <summary>Number of hardware queues (directories /sys/block/X/mq/N), poll queues included.</summary>
    public int QueueCount { get; internal set; }

    /// <summary>How many of <see cref="QueueCount"/> are poll queues; see <see cref="PollQueuesSource"/>.</summary>
    public int PollQueues { get; internal set; }

    /// <summary>Where <see cref="PollQueues"/> came from: "debugfs", "queue/io_poll" or "poll_queues parameter".</summary>
    public string PollQueuesSource { get; internal set; } = "";

    /// <summary>queue/io_poll is 1: the disk has poll queues, so IORING_SETUP_IOPOLL works on it.</summary>
    public bool IoPoll { get; internal set; }

    /// <summary>The active I/O scheduler: the bracketed entry of queue/scheduler ("none", "mq-deadline").</summary>
    public string? Scheduler { get; internal set; }

    /// <summary>queue/write_cache: "write back" or "write through".</summary>
    public string? WriteCache { get; internal set; }

    /// <summary>queue/nr_requests: the per-queue request (tag) depth.</summary>
    public int NrRequests { get; internal set; }

    /// <summary>Negotiated virtio feature names decoded from <see cref="FeatureBits"/>, in bit order.</summary>
    public TextList Features { get; internal set; } = TextList.None;

    /// <summary>/sys/block/X/device/features verbatim: one '0'/'1' per bit, bit 0 first.</summary>
    public string FeatureBits { get; internal set; } = "";

    /// <summary>Partition names ("vda1", ...).</summary>
    public TextList Partitions { get; internal set; } = TextList.None;

    /// <summary>Where the disk or one of its partitions is mounted, from /proc/self/mountinfo.</summary>
    public TextList MountPoints { get; internal set; } = TextList.None;

    /// <summary>/sys/block/X/holders: devices built on the whole disk (dm, md).</summary>
    public TextList Holders { get; internal set; } = TextList.None;

    /// <summary>Swap areas on the disk or its partitions, from /proc/swaps.</summary>
    public TextList SwapAreas { get; internal set; } = TextList.None;

    /// <summary>
    /// Mounted, used as swap, or held (by the disk or a partition): the write cmdlets refuse such a disk.
    /// <see cref="DiskUsage.Inspect"/> says why.
    /// </summary>
    public bool InUse { get; internal set; }

    public override string ToString() => Path;
}
