using System;
using System.Runtime.InteropServices;
using VirtioBlk.Core.Interop;

namespace VirtioBlk.Core.Native;

/// <summary>An owned Linux file descriptor, closed exactly once.</summary>
public sealed class SafeFileDescriptor : SafeHandle
{
    public SafeFileDescriptor() : base(-1, ownsHandle: true) { }

    internal SafeFileDescriptor(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    /// <summary>The raw fd; valid only while this handle is alive.</summary>
    public int Fd => (int)handle;

    internal void SetFd(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => Sys.Close((int)handle) == 0;

    /// <summary>open(2) with O_CLOEXEC; a typed error names the path.</summary>
    public static SafeFileDescriptor Open(string path, int flags)
    {
        var h = new SafeFileDescriptor(); // allocate before the syscall so a fd is never orphaned
        int fd = Sys.Open(path, flags | Sys.O_CLOEXEC, 0);
        if (fd < 0)
        {
            Errno e = ErrnoText.Last();
            h.Dispose();
            throw new IoUringException(e, IoOperationKind.Open, "open", path: path);
        }
        h.SetFd(fd);
        return h;
    }
}

/// <summary>A shared mapping of the ring's memory, unmapped exactly once.</summary>
public sealed class SafeMmapRegion : SafeHandle
{
    private SafeMmapRegion(nint address, nuint length) : base(Sys.MAP_FAILED, ownsHandle: true)
    {
        SetHandle(address);
        Length = length;
    }

    public override bool IsInvalid => handle == Sys.MAP_FAILED || handle == 0;

    public nuint Length { get; }

    public unsafe byte* Pointer => (byte*)handle;

    protected override bool ReleaseHandle() => Sys.Munmap(handle, Length) == 0;

    internal static SafeMmapRegion Map(SafeFileDescriptor fd, nuint length, ulong offset, string what)
    {
        nint p = Sys.Mmap(0, length, Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED | Sys.MAP_POPULATE, fd.Fd, (long)offset);
        if (p == Sys.MAP_FAILED)
        {
            throw new IoUringException(ErrnoText.Last(), IoOperationKind.MapMemory, "mmap", what);
        }
        return new SafeMmapRegion(p, length);
    }
}
