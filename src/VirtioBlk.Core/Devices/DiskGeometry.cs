using System;
using System.IO;

namespace VirtioBlk.Core.Devices;

/// <summary>A disk's size and limits as sysfs states them (works for the block device and its passthrough char device).</summary>
public sealed record DiskGeometry(string Name, ulong SizeBytes, int LogicalBlockSize, int MaxTransferBytes, bool IoPoll, bool ReadOnly)
{
    public const string SysBlock = "/sys/block";

    /// <summary>Sectors of 512 bytes, the unit of the passthrough command and of /sys/block/X/size.</summary>
    public ulong Sectors => SizeBytes / 512;

    public static DiskGeometry FromSysfs(string name)
    {
        string dir = Path.Combine(SysBlock, name);
        if (!Directory.Exists(dir))
        {
            throw new IoUringException(Errno.ENOENT, "sysfs", $"{dir} does not exist: '{name}' is not a whole disk.", dir);
        }
        ulong sectors = ulong.Parse(Read(dir, "size"));
        int lbs = int.Parse(Read(dir, "queue/logical_block_size"));
        int maxKb = int.Parse(Read(dir, "queue/max_sectors_kb"));
        bool poll = File.Exists(Path.Combine(dir, "queue/io_poll")) && Read(dir, "queue/io_poll") == "1";
        bool ro = Read(dir, "ro") == "1";
        return new DiskGeometry(name, sectors * 512, lbs, maxKb * 1024, poll, ro);
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
                    throw new IoUringException(Errno.EINVAL, "sysfs", $"{devicePath} is a partition; give the whole disk.", devicePath);
                }
                return Path.GetFileName(target);
            case DeviceNodeKind.CharacterDevice:
                string charLink = Path.Combine("/sys/dev/char", node.DevId);
                string charName = Path.GetFileName(new DirectoryInfo(charLink).ResolveLinkTarget(true)?.FullName ?? charLink);
                if (!charName.EndsWith("c0", StringComparison.Ordinal) || !Directory.Exists(Path.Combine(SysBlock, charName[..^2])))
                {
                    throw new IoUringException(Errno.ENODEV, "sysfs", $"{devicePath} is not a virtio-blk passthrough char device.", devicePath);
                }
                return charName[..^2];
            case DeviceNodeKind.Missing:
                throw new IoUringException(Errno.ENOENT, "stat", path: devicePath);
            default:
                throw new IoUringException(Errno.ENOTTY, "stat", "Not a block or character device.", devicePath);
        }
    }

    private static string Read(string dir, string file) => File.ReadAllText(Path.Combine(dir, file)).Trim();
}
