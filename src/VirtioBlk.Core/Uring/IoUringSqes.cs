using System;
using System.Runtime.CompilerServices;
using VirtioBlk.Core.Abi;

namespace VirtioBlk.Core.Uring;

/// <summary>
/// SQEs handed out together by <see cref="IoUring.GetSqes"/>, in ring order: the address arithmetic of each is done
/// here, with the ring's mask and slot size read once, instead of by a <see cref="IoUring.GetSqe"/> call per SQE.
/// </summary>
public readonly unsafe ref struct IoUringSqes
{
    private readonly byte* _sqes;
    private readonly uint _first;
    private readonly uint _mask;
    private readonly int _shift;

    internal IoUringSqes(byte* sqes, uint first, uint count, uint mask, int shift)
    {
        _sqes = sqes;
        _first = first;
        Count = (int)count;
        _mask = mask;
        _shift = shift;
    }

    /// <summary>How many SQEs the view holds (0: the SQ had not the room asked for).</summary>
    public int Count { get; }

    /// <summary>The <paramref name="index"/>-th SQE of the view.</summary>
    public IoUringSqe* this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Count) ThrowIndex(index);
            return UncheckedAt(index);
        }
    }

    /// <summary>The indexer without its range check, for a loop bounded by <see cref="Count"/>; masked, so always an SQE of the ring.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal IoUringSqe* UncheckedAt(int index) => (IoUringSqe*)(_sqes + ((nuint)((_first + (uint)index) & _mask) << _shift));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowIndex(int index) => throw new ArgumentOutOfRangeException(nameof(index), index, "Past the SQEs handed out.");
}
