using System;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Interop;
using VirtioBlk.Core.Native;

namespace VirtioBlk.Core.Devices;

public enum DeviceNodeKind
{
    Missing,
    BlockDevice,
    CharacterDevice,
    RegularFile,
    Other,
}

/// <summary>What a path is, from statx(2), without opening it.</summary>
public readonly record struct DeviceNodeInfo(DeviceNodeKind Kind, uint Major, uint Minor, ulong Size)
{
    private const ushort S_IFMT = 0xF000, S_IFBLK = 0x6000, S_IFCHR = 0x2000, S_IFREG = 0x8000;

    /// <summary>The node's "major:minor", as sysfs names it under /sys/dev/.</summary>
    public string DevId => $"{Major}:{Minor}";

    public static unsafe DeviceNodeInfo Stat(string path)
    {
        Statx st = default;
        if (Sys.Statx(Sys.AT_FDCWD, path, 0, Sys.STATX_TYPE | Sys.STATX_SIZE, &st) != 0)
        {
            Errno e = ErrnoText.Last();
            if (e is Errno.ENOENT or Errno.ENOTDIR) return new DeviceNodeInfo(DeviceNodeKind.Missing, 0, 0, 0);
            throw new IoUringException(e, IoOperationKind.Stat, "statx", path: path);
        }
        DeviceNodeKind kind = (st.Mode & S_IFMT) switch
        {
            S_IFBLK => DeviceNodeKind.BlockDevice,
            S_IFCHR => DeviceNodeKind.CharacterDevice,
            S_IFREG => DeviceNodeKind.RegularFile,
            _ => DeviceNodeKind.Other,
        };
        return new DeviceNodeInfo(kind, st.RdevMajor, st.RdevMinor, st.Size);
    }
}

/// <summary>Geometry of an open block device, from its ioctls.</summary>
public static unsafe class BlockDeviceGeometry
{
    public static ulong SizeBytes(SafeFileDescriptor fd, string path)
    {
        ulong size;
        ErrnoText.ThrowIfFailed(Sys.Ioctl(fd, Sys.BLKGETSIZE64, &size), IoOperationKind.Other, "ioctl(BLKGETSIZE64)", path);
        return size;
    }

    public static int LogicalBlockSize(SafeFileDescriptor fd, string path)
    {
        int lbs;
        ErrnoText.ThrowIfFailed(Sys.Ioctl(fd, Sys.BLKSSZGET, &lbs), IoOperationKind.Other, "ioctl(BLKSSZGET)", path);
        return lbs;
    }
}
