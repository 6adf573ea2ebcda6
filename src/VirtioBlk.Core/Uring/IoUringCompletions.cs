using System;
using System.Runtime.CompilerServices;
using VirtioBlk.Core.Abi;

namespace VirtioBlk.Core.Uring;

/// <summary>
/// The CQEs that were ready when <see cref="IoUring.PeekCompletionsInPlace"/> looked, read in place in the CQ ring
/// (no copy). Valid until <see cref="IoUring.AdvanceCompletions"/> hands the slots back to the kernel.
/// </summary>
public readonly unsafe ref struct IoUringCompletions
{
    private readonly byte* _cqes;
    private readonly uint _mask;
    private readonly int _shift;

    internal IoUringCompletions(byte* cqes, uint head, uint count, uint mask, int shift)
    {
        _cqes = cqes;
        Head = head;
        Count = (int)count;
        _mask = mask;
        _shift = shift;
    }

    /// <summary>How many completions the view holds.</summary>
    public int Count { get; }

    /// <summary>The CQ head when the view was taken.</summary>
    internal uint Head { get; }

    /// <summary>The <paramref name="index"/>-th ready completion, oldest first.</summary>
    public ref readonly IoUringCqe this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Count) ThrowIndex(index);
            return ref *(IoUringCqe*)(_cqes + ((nuint)((Head + (uint)index) & _mask) << _shift));
        }
    }

    /// <summary>
    /// The indexer without its range check, for a loop bounded by <see cref="Count"/> (a call to a throw helper in
    /// the loop would cost it registers). Masked like the indexer, so never outside the CQ ring's memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref readonly IoUringCqe UncheckedAt(int index)
        => ref *(IoUringCqe*)(_cqes + ((nuint)((Head + (uint)index) & _mask) << _shift));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowIndex(int index) => throw new ArgumentOutOfRangeException(nameof(index), index, "Past the ready completions.");
}
