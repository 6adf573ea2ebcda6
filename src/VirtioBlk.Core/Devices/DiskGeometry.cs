using System;
using System.Globalization;
using System.IO;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// A disk's size and I/O limits as sysfs states them (works for the block device and its passthrough char device).
/// The one reader of these attributes: the sector-I/O engine, the cmdlets and Get-VirtioBlkDevice all use it.
/// </summary>
public sealed record DiskGeometry(string Name, ulong SizeBytes, int LogicalBlockSize, int MaxTransferBytes, bool IoPoll, bool ReadOnly)
{
    public const string SysBlock = "/sys/block";

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

    /// <summary>Reads /sys/block/<paramref name="name"/>. Throws <see cref="IoUringException"/> (ENOENT) for no such
    /// disk and <see cref="InvalidDataException"/> naming the file when an attribute is missing or malformed.</summary>
    public static DiskGeometry FromSysfs(string name)
    {
        string dir = Path.Combine(SysBlock, name);
        if (name.Length == 0 || name.Contains('/') || !Directory.Exists(dir))
        {
            throw new IoUringException(Errno.ENOENT, IoOperationKind.Sysfs, "sysfs", $"{dir} does not exist: '{name}' is not a whole disk.", dir);
        }
        ulong sectors = ReadNumber(dir, "size");
        int lbs = checked((int)ReadNumber(dir, "queue/logical_block_size"));
        long maxKb = checked((long)ReadNumber(dir, "queue/max_sectors_kb"));
        bool poll = TryRead(dir, "queue/io_poll") == "1";
        bool ro = Read(dir, "ro") == "1";
        return new DiskGeometry(name, checked(sectors * 512), lbs, (int)Math.Min(int.MaxValue, maxKb * 1024), poll, ro)
        {
            PhysicalBlockSize = checked((int)ReadNumber(dir, "queue/physical_block_size")),
            MaxHwTransferBytes = checked((long)ReadNumber(dir, "queue/max_hw_sectors_kb") * 1024),
            MaxSegments = checked((int)ReadNumber(dir, "queue/max_segments")),
        };
    }

    /// <summary>The disk behind a device node: the block device itself, or the disk whose "&lt;disk&gt;c0" char device it is.</summary>
    public static string DiskNameOf(string devicePath)
    {
        DeviceNodeInfo node = DeviceNodeInfo.Stat(devicePath);
        switch (node.Kind)
        {
            case DeviceNodeKind.BlockDevice:
                string link = Path.Combine("/sys/dev/block", node.DevId);
                string target = new DirectoryInfo(link).ResolveLinkTarget(true)?.FullName ?? link;
                if (File.Exists(Path.Combine(target, "partition")))
                {
                    throw new IoUringException(Errno.EINVAL, IoOperationKind.Sysfs, "sysfs", $"{devicePath} is a partition; give the whole disk.", devicePath);
                }
                return Path.GetFileName(target);
            case DeviceNodeKind.CharacterDevice:
                string charLink = Path.Combine("/sys/dev/char", node.DevId);
                string charName = Path.GetFileName(new DirectoryInfo(charLink).ResolveLinkTarget(true)?.FullName ?? charLink);
                if (!charName.EndsWith("c0", StringComparison.Ordinal) || !Directory.Exists(Path.Combine(SysBlock, charName[..^2])))
                {
                    throw new IoUringException(Errno.ENODEV, IoOperationKind.Sysfs, "sysfs", $"{devicePath} is not a virtio-blk passthrough char device.", devicePath);
                }
                return charName[..^2];
            case DeviceNodeKind.Missing:
                throw new IoUringException(Errno.ENOENT, IoOperationKind.Stat, "stat", path: devicePath);
            default:
                throw new IoUringException(Errno.ENOTTY, IoOperationKind.Stat, "stat", "Not a block or character device.", devicePath);
        }
    }

    private static string? TryRead(string dir, string file)
    {
        try
        {
            return File.ReadAllText(Path.Combine(dir, file)).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Read(string dir, string file)
        => TryRead(dir, file) ?? throw new InvalidDataException($"Cannot read '{Path.Combine(dir, file)}'.");

    private static ulong ReadNumber(string dir, string file)
    {
        string text = Read(dir, file);
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value)
            ? value
            : throw new InvalidDataException($"'{Path.Combine(dir, file)}' holds '{text}', not a number.");
    }
}
