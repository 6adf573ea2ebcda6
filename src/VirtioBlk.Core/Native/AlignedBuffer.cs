using System;
using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Native;

/// <summary>
/// Native memory aligned for O_DIRECT and registration, owned by the project. Never moved by the GC, zeroed at
/// allocation. A ring that registers it holds a reference, so it cannot be freed while the kernel may use it.
/// </summary>
public sealed unsafe class AlignedBuffer : SafeHandle
{
    public const int DefaultAlignment = 4096;

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
        Alignment = alignment;
    }

    public override bool IsInvalid => handle == 0;

    public int Length { get; }

    public int Alignment { get; }

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

    public Span<byte> Slice(int offset, int length) => Span.Slice(offset, length);

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
