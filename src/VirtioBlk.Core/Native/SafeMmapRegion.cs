using System.Runtime.InteropServices;
using VirtioBlk.Core.Interop;

namespace VirtioBlk.Core.Native;

/// <summary>A shared mapping of the ring's memory, unmapped exactly once (or never, once leaked).</summary>
public sealed class SafeMmapRegion : SafeHandle
{
    private SafeMmapRegion(nuint length) : base(Sys.MAP_FAILED, ownsHandle: true) => Length = length;

    public override bool IsInvalid => handle == Sys.MAP_FAILED || handle == 0;

    public nuint Length { get; }

    public unsafe byte* Pointer => (byte*)handle;

    protected override bool ReleaseHandle() => Sys.Munmap(handle, Length) == 0;

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> at <paramref name="offset"/>, shared and pre-faulted.</summary>
    internal static SafeMmapRegion Map(SafeFileDescriptor fd, nuint length, ulong offset, string what)
    {
        var region = new SafeMmapRegion(length); // allocate before the syscall so a mapping is never orphaned
        nint p = Sys.Mmap(0, length, Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED | Sys.MAP_POPULATE, fd, (long)offset);
        if (p == Sys.MAP_FAILED)
        {
            Errno e = ErrnoText.Last();
            region.Dispose();
            throw new IoUringException(e, IoOperationKind.MapMemory, "mmap", what);
        }
        region.SetHandle(p);
        return region;
    }

    /// <summary>Never unmaps: the handle is closed without releasing the mapping.</summary>
    internal void Leak() => SetHandleAsInvalid();
}
