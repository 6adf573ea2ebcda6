using System;
using System.IO;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// A disk's size and I/O limits as sysfs states them (works for the block device and its passthrough char device).
/// The one reader of these attributes: the sector-I/O engine, the cmdlets and Get-VirtioBlkDevice all use it.
/// </summary>
public sealed record DiskGeometry(string Name, ulong SizeBytes, int LogicalBlockSize, int MaxTransferBytes, bool IoPoll, bool ReadOnly)
{
    /// <summary>Sectors of 512 bytes, the unit of the passthrough command and of /sys/block/X/size.</summary>
    public ulong Sectors => SizeBytes / 512;

    /// <summary>Logical blocks expressed in 512-byte sectors (1 for 512-byte disks, 8 for 4 KiB disks).</summary>
    public int SectorsPerBlock => LogicalBlockSize / 512;

    /// <summary>queue/physical_block_size.</summary>
    public int PhysicalBlockSize { get; init; }

    /// <summary>queue/max_hw_sectors_kb in bytes: the device's limit (MaxTransferBytes is the soft limit, at most this).</summary>
    public long MaxHwTransferBytes { get; init; }

    /// <summary>queue/max_segments: the most scatter-gather elements in one request.</summary>
    public int MaxSegments { get; init; }

    /// <summary>
    /// The largest single request that is safe on both paths: the block layer splits block-path I/O, but a
    /// passthrough request is mapped whole, so it must fit max_sectors_kb and, one page per segment in the worst
    /// case, max_segments.
    /// </summary>
    public int MaxUnsplitIoBytes
    {
        get
        {
            long bySegments = MaxSegments > 0 ? (long)MaxSegments * 4096 : long.MaxValue;
            long limit = Math.Min(MaxTransferBytes > 0 ? MaxTransferBytes : int.MaxValue, bySegments);
            return (int)Math.Max(LogicalBlockSize, limit / LogicalBlockSize * LogicalBlockSize);
        }
    }

    /// <summary>Reads /sys/block/<paramref name="name"/>; a missing or malformed attribute (the disk went away) is a <see cref="SysfsException"/>.</summary>
    public static DiskGeometry FromSysfs(string name)
    {
        string dir = Path.Combine(Sysfs.BlockRoot, name);
        if (name.Length == 0 || name.Contains('/') || !Directory.Exists(dir))
        {
            throw new SysfsException(dir, "does not exist: there is no such whole disk (any more)");
        }

        ulong sectors = Sysfs.ReadUInt64(Path.Combine(dir, "size"));
        if (sectors > ulong.MaxValue / 512)
        {
            throw new SysfsException(Path.Combine(dir, "size"), $"holds {sectors} sectors, more than 64 bits of bytes");
        }

        long maxKb = Sysfs.ReadInt64(Path.Combine(dir, "queue/max_sectors_kb"));
        long maxHwKb = Sysfs.ReadInt64(Path.Combine(dir, "queue/max_hw_sectors_kb"));
        return new DiskGeometry(name, sectors * 512, Sysfs.ReadInt32(Path.Combine(dir, "queue/logical_block_size")),
            (int)Math.Min(int.MaxValue, maxKb * 1024L), Sysfs.TryReadText(Path.Combine(dir, "queue/io_poll"))?.Trim() == "1",
            Sysfs.ReadText(Path.Combine(dir, "ro")).Trim() == "1")
        {
            PhysicalBlockSize = Sysfs.ReadInt32(Path.Combine(dir, "queue/physical_block_size")),
            MaxHwTransferBytes = maxHwKb * 1024L,
            MaxSegments = Sysfs.ReadInt32(Path.Combine(dir, "queue/max_segments")),
        };
    }
}
