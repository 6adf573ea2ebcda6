using System;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// Whether a disk went away (hot-unplugged, QMP device_del) while I/O ran on it. The kernel fails the I/O of a
/// disk being removed with -ENODEV (passthrough) or -EIO (block path) before it takes /sys/block/NAME away, so a
/// failure with one of those errnos is a removal only once that directory is gone; a bad sector's EIO leaves it.
/// </summary>
public static class DiskRemoval
{
    /// <summary>
    /// How long a failed transfer waits for /sys/block/NAME to vanish before it reports the failure as what it is:
    /// 1 s after an EIO (a bad sector is far likelier), 5 s after ENODEV/ENXIO (the kernel says the device is going).
    /// </summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(1);

    /// <summary>The wait after ENODEV or ENXIO; see <see cref="Grace"/>.</summary>
    public static readonly TimeSpan NoDeviceGrace = TimeSpan.FromSeconds(5);

    /// <summary>The wait for <paramref name="errno"/>.</summary>
    public static TimeSpan GraceFor(Errno errno) => errno == Errno.EIO ? Grace : NoDeviceGrace;

    /// <summary>Whether /sys/block/<paramref name="disk"/> is gone now.</summary>
    public static bool IsGone(string disk) => !Directory.Exists(Path.Combine(Sysfs.BlockRoot, disk));

    /// <summary>Whether the errno is one a disk being removed fails its I/O with.</summary>
    public static bool MayMeanRemoval(Errno errno) => errno is Errno.ENODEV or Errno.ENXIO or Errno.EIO;

    /// <summary>Waits up to <paramref name="wait"/> for /sys/block/<paramref name="disk"/> to vanish; true once it has.</summary>
    public static bool WaitGone(string disk, TimeSpan wait)
    {
        long start = Stopwatch.GetTimestamp();
        while (!IsGone(disk))
        {
            if (Stopwatch.GetElapsedTime(start) >= wait) return false;
            Thread.Sleep(50);
        }

        return true;
    }

    /// <summary>
    /// <paramref name="failure"/> as a <see cref="DiskRemovedException"/> when the disk went away (waiting up to
    /// <see cref="GraceFor"/> for it to vanish), else <paramref name="failure"/> itself.
    /// </summary>
    public static IoUringException Classify(IoUringException failure, string disk, string path)
    {
        ArgumentNullException.ThrowIfNull(failure);
        if (failure is DiskRemovedException || !MayMeanRemoval(failure.Errno) || !WaitGone(disk, GraceFor(failure.Errno)))
        {
            return failure;
        }

        var removed = new DiskRemovedException(disk, path, failure);
        return failure.Sectors is (ulong first, ulong last) ? removed.AtSectors(first, last - first + 1, disk, failure.IoPath ?? path) : removed;
    }
}

/// <summary>
/// The disk went away while I/O ran on it: its I/O failed (or a benchmark saw it vanish) and /sys/block/NAME is
/// gone. Keeps the errno of the failed I/O that showed it (ENODEV when none did).
/// </summary>
public sealed class DiskRemovedException : IoUringException
{
    public DiskRemovedException(string disk, string path, IoUringException? cause, string during = "the I/O", string operation = "I/O")
        : base(cause?.Errno ?? Errno.ENODEV, cause?.Kind ?? IoOperationKind.Other, cause?.Operation ?? operation,
            (cause?.Detail is string d ? d.TrimEnd('.') + ". " : "")
            + $"{disk} went away during {during}: the disk was removed (/sys/block/{disk} is gone)", path)
    {
        Disk = disk;
        Cause = cause;
    }

    /// <summary>The disk's kernel name (vdb).</summary>
    public string Disk { get; }

    /// <summary>The failed I/O that showed it, if one did.</summary>
    public IoUringException? Cause { get; }
}
