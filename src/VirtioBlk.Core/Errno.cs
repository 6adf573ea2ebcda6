using System;
using System.IO;
using System.Runtime.InteropServices;

namespace VirtioBlk.Core;

/// <summary>Linux errno values the project names (identical on x86-64 and arm64).</summary>
public enum Errno
{
    None = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    EFBIG = 27,
    ENOSPC = 28,
    EROFS = 30,
    ERANGE = 34,
    ENOSYS = 38,
    EOPNOTSUPP = 95,
    ECANCELED = 125,
    ETIME = 62,
    ETIMEDOUT = 110,
    EALREADY = 114,
    ENOTSOCK = 88,
}

/// <summary>What kind of operation failed: callers (the cmdlets' error mapping) choose a category by this, never by text.</summary>
public enum IoOperationKind
{
    Other,
    RingSetup,
    RingEnter,
    RingRegister,
    MapMemory,
    Open,
    Stat,
    Sysfs,
    Read,
    Write,
    Flush,
    Identify,
    Affinity,
}

/// <summary>
/// A failed system call or io_uring operation. Keeps the raw errno and names the operation, so callers (the
/// cmdlets' one errno-to-ErrorRecord mapping) decide by <see cref="Errno"/>, never by message text.
/// </summary>
public class IoUringException : IOException
{
    public IoUringException(Errno errno, IoOperationKind kind, string operation, string? detail = null, string? path = null)
        : base(Format(errno, operation, detail, path))
    {
        Errno = errno;
        Kind = kind;
        Operation = operation;
        Detail = detail;
        Path = path;
        HResult = (int)errno;
    }

    /// <summary>The errno the kernel returned.</summary>
    public Errno Errno { get; }

    /// <summary>The kind of operation, for decisions.</summary>
    public IoOperationKind Kind { get; }

    /// <summary>What was being done, for people: "io_uring_setup", "open", "READ_FIXED", ...</summary>
    public string Operation { get; }

    /// <summary>What the project knows about the cause, beyond the errno (which flag, which limit).</summary>
    public string? Detail { get; }

    /// <summary>The file or device involved, if any.</summary>
    public string? Path { get; }

    /// <summary>The first and last 512-byte sector of the failed I/O, when it was a data transfer of a disk.</summary>
    public (ulong First, ulong Last)? Sectors { get; private set; }

    /// <summary>The path the failed I/O took, for people: "the block device /dev/vdb", "passthrough on /dev/vdbc0".</summary>
    public string? IoPath { get; private set; }

    /// <summary>
    /// Records where the failed transfer was (the sector-I/O session calls this for the first failed I/O), so the
    /// message names the disk, the sectors and the path.
    /// </summary>
    public IoUringException AtSectors(ulong first, ulong count, string disk, string ioPath)
    {
        Sectors = (first, first + Math.Max(count, 1) - 1);
        Disk = disk;
        IoPath = ioPath;
        return this;
    }

    private string? Disk { get; set; }

    /// <summary>The errno text, then, for a failed transfer, which sectors of which disk and through which path.</summary>
    public override string Message => Sectors is (ulong first, ulong last)
        ? $"{base.Message.TrimEnd('.')}. The failed I/O covered sectors {first}..{last} of {Disk}, through {IoPath}."
        : base.Message;

    private static string Format(Errno errno, string operation, string? detail, string? path)
    {
        string where = path is null ? operation : $"{operation} '{path}'";
        string text = $"{where} failed: {ErrnoText.Describe(errno)}";
        return detail is null ? text : $"{text}. {detail}";
    }
}

/// <summary>The one translation from errno to exception and to text.</summary>
public static class ErrnoText
{
    /// <summary>"EINVAL (22): Invalid argument".</summary>
    public static string Describe(Errno errno)
        => $"{Name(errno)} ({(int)errno}): {Marshal.GetPInvokeErrorMessage((int)errno)}";

    /// <summary>The symbolic name, or "errno N" when the project has none.</summary>
    public static string Name(Errno errno) => Enum.IsDefined(errno) ? errno.ToString() : $"errno {(int)errno}";

    /// <summary>Reads errno right after a failed call, before anything else can overwrite it.</summary>
    public static Errno Last() => (Errno)Marshal.GetLastPInvokeError();

    /// <summary>Throws for a syscall's -1 return, reading errno.</summary>
    public static void ThrowIfFailed(long result, IoOperationKind kind, string operation, string? path = null)
    {
        if (result < 0)
        {
            throw new IoUringException(Last(), kind, operation, path: path);
        }
    }

    /// <summary>Throws for a completion's negative result (cqe->res = -errno).</summary>
    public static void ThrowIfNegative(int res, IoOperationKind kind, string operation, string? path = null)
    {
        if (res < 0)
        {
            throw new IoUringException((Errno)(-res), kind, operation, path: path);
        }
    }
}
