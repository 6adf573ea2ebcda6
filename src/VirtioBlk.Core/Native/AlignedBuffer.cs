using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace VirtioBlk.Core.Native;

/// <summary>
/// Native memory aligned for O_DIRECT and registration, owned by the project. Never moved by the GC, zeroed at
/// allocation. A ring that registers it holds a reference, so it cannot be freed while the kernel may use it; a
/// buffer used for I/O the kernel may still own (the ring says <see cref="Uring.IoUring.KernelMayOwnMemory"/>)
/// is <see cref="Leak">leaked</see> instead of freed.
/// </summary>
public sealed unsafe class AlignedBuffer : SafeHandle
{
    public const int DefaultAlignment = 4096;

    private readonly nuint _allocated;
    private int _leaked;

    public AlignedBuffer(int length, int alignment = DefaultAlignment) : base(0, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "The alignment must be a power of two.");
        }
        // Round the allocation to the alignment so a registered buffer covers whole pages.
        nuint size = (nuint)(((long)length + alignment - 1) / alignment * alignment);
        void* p = NativeMemory.AlignedAlloc(size, (nuint)alignment);
        if (p == null)
        {
            throw new OutOfMemoryException($"Could not allocate {length} bytes aligned to {alignment}.");
        }
        NativeMemory.Clear(p, size);
        SetHandle((nint)p);
        Length = length;
        _allocated = size;
    }

    public override bool IsInvalid => handle == 0;

    public int Length { get; }

    /// <summary>True once <see cref="Leak"/> marked the memory as never to be freed.</summary>
    public bool IsLeaked => Volatile.Read(ref _leaked) != 0;

    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return (byte*)handle;
        }
    }

    public nint Address => (nint)Pointer;

    public Span<byte> Span => new(Pointer, Length);

    /// <summary>
    /// Marks the memory so it is never freed (Dispose and the finalizer then only drop the handle), and counts it in
    /// <see cref="NativeMemoryLeaks"/>. For memory the kernel may still write: a buffer of I/O that a ring could
    /// not drain. Idempotent; does nothing to a buffer already freed.
    /// </summary>
    public void Leak() => LeakBecause("its ring could not confirm that the kernel is done with it");

    internal void LeakBecause(string reason)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added); // keeps ReleaseHandle from running while we decide
        }
        catch (ObjectDisposedException)
        {
            return; // already freed: nothing left to leak
        }
        try
        {
            if (Interlocked.Exchange(ref _leaked, 1) == 0)
            {
                NativeMemoryLeaks.Record((long)_allocated, $"AlignedBuffer of {Length} bytes at 0x{handle:X}", reason);
            }
        }
        finally
        {
            if (added) DangerousRelease();
        }
    }

    protected override bool ReleaseHandle()
    {
        if (Volatile.Read(ref _leaked) == 0)
        {
            NativeMemory.AlignedFree((void*)handle);
        }
        return true;
    }
}
