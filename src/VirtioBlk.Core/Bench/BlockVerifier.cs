using System;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;

namespace VirtioBlk.Core.Bench;

/// <summary>What a block read back holds, judged against what it should hold.</summary>
public enum BlockVerdict : byte
{
    /// <summary>The header names this offset and seed and the checksum holds.</summary>
    Ok,

    /// <summary>No header at all (never written by a verified write, zeroed, or overwritten by something else).</summary>
    NoHeader,

    /// <summary>A whole, intact block of another run (its header names another seed).</summary>
    OtherSeed,

    /// <summary>An intact block that belongs elsewhere: the header names another offset (a misdirected write, or a read from the wrong place).</summary>
    Misdirected,

    /// <summary>The header is there but the checksum fails: a torn write or corrupted data.</summary>
    Corrupt,

    /// <summary>An intact block of this offset, but an older generation than the one just written (a lost write).</summary>
    Stale,
}

/// <summary>
/// The header every verified block carries, and the one place that writes and checks it. Layout (little-endian):
/// magic (8 bytes) | disk byte offset (8) | run seed (8) | generation (8) | block size (4) | reserved (4) |
/// checksum (8) | payload. The checksum is XxHash3 (System.IO.Hashing) of the payload, seeded with the XxHash3 of
/// the header's first 40 bytes, so any changed byte anywhere in the block fails it. The payload is a pure function of
/// (seed, offset, generation) and the buffer kind, so a run with the same seed writes the same bytes.
/// </summary>
public static class BlockVerifier
{
    /// <summary>"VBLKVRF1" read as a little-endian number.</summary>
    public const ulong Magic = 0x3146_5256_4B4C_4256UL;

    /// <summary>Bytes of the header at the start of every verified block.</summary>
    public const int HeaderBytes = 48;

    private const int ChecksumAt = 40;

    /// <summary>Fills a block with its header and payload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fill(Span<byte> block, ulong offset, ulong seed, ulong generation, BenchmarkBuffer buffer)
    {
        Span<byte> payload = block.Slice(HeaderBytes);
        switch (buffer)
        {
            case BenchmarkBuffer.Zero:
                payload.Clear();
                break;
            case BenchmarkBuffer.Pattern:
                payload.Fill(0x5A);
                break;
            default:
                FillRandom(payload, Mix(seed ^ Mix(offset ^ Mix(generation + 0x632BE59BD9B4E019UL))));
                break;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(block, Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(block.Slice(8), offset);
        BinaryPrimitives.WriteUInt64LittleEndian(block.Slice(16), seed);
        BinaryPrimitives.WriteUInt64LittleEndian(block.Slice(24), generation);
        BinaryPrimitives.WriteUInt32LittleEndian(block.Slice(32), (uint)block.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(block.Slice(36), 0);
        BinaryPrimitives.WriteUInt64LittleEndian(block.Slice(ChecksumAt), Checksum(block));
    }

    /// <summary>
    /// Judges a block read back from <paramref name="offset"/>. <paramref name="expectedGeneration"/> 0 accepts
    /// any generation (a verify pass over data written earlier). The header's own claims come back whatever the verdict.
    /// </summary>
    public static BlockVerdict Check(ReadOnlySpan<byte> block, ulong offset, ulong seed, ulong expectedGeneration,
        out ulong headerOffset, out ulong headerGeneration, out ulong headerSeed)
    {
        headerOffset = BinaryPrimitives.ReadUInt64LittleEndian(block.Slice(8));
        headerSeed = BinaryPrimitives.ReadUInt64LittleEndian(block.Slice(16));
        headerGeneration = BinaryPrimitives.ReadUInt64LittleEndian(block.Slice(24));
        if (BinaryPrimitives.ReadUInt64LittleEndian(block) != Magic
            || BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(32)) != (uint)block.Length)
        {
            return BlockVerdict.NoHeader;
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(block.Slice(ChecksumAt)) != Checksum(block))
        {
            return BlockVerdict.Corrupt;
        }

        if (headerSeed != seed)
        {
            return BlockVerdict.OtherSeed;
        }

        if (headerOffset != offset)
        {
            return BlockVerdict.Misdirected;
        }

        return expectedGeneration != 0 && headerGeneration < expectedGeneration ? BlockVerdict.Stale : BlockVerdict.Ok;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Checksum(ReadOnlySpan<byte> block)
        => XxHash3.HashToUInt64(block.Slice(HeaderBytes), (long)XxHash3.HashToUInt64(block.Slice(0, ChecksumAt)));

    /// <summary>xorshift64 from a non-zero state, eight bytes a step.</summary>
    internal static void FillRandom(Span<byte> bytes, ulong state)
    {
        ulong x = state | 1;
        Span<ulong> words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes);
        for (int i = 0; i < words.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words[i] = x;
        }
    }

    /// <summary>The splitmix64 finalizer: spreads a counter or a seed over all 64 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
