using System;
using VirtioBlk.Core.Devices;

namespace VirtioBlk.Core.Bench;

public enum BenchmarkOperation
{
    Read,
    Write,
    Mixed,

    /// <summary>Read-only: every block of the range is read and checked against the header a verified write left.</summary>
    Verify,
}

/// <summary>What written blocks carry (with verification, after the block's header).</summary>
public enum BenchmarkBuffer
{
    /// <summary>Pseudo-random bytes from the seed: neither compressible nor deduplicable.</summary>
    Random,

    /// <summary>Zero bytes (what a thin or compressing backend stores for free).</summary>
    Zero,

    /// <summary>The byte 0x5A repeated: compressible, but told apart from a device that drops data.</summary>
    Pattern,
}

/// <summary>The order of offsets.</summary>
public enum BenchmarkPattern
{
    Random,
    Sequential,
}

/// <summary>
/// The knobs of one run, named after fio's t/io_uring where it has one (-b -d -s -c -p -B -F -n -O -R -X -u -t).
/// The same options drive both paths, so a comparison changes nothing but the path.
/// </summary>
public sealed record BenchmarkOptions
{
    /// <summary>The block device (block path), or its char device (passthrough).</summary>
    public required string DevicePath { get; init; }

    public IoPathKind Path { get; init; } = IoPathKind.Block;

    /// <summary>Bytes per I/O (-b); a multiple of the logical block size.</summary>
    public int BlockSize { get; init; } = 4096;

    /// <summary>I/Os in flight per thread (-d).</summary>
    public int QueueDepth { get; init; } = 128;

    /// <summary>SQEs prepared per submit call at most (-s).</summary>
    public int SubmitBatch { get; init; } = 32;

    /// <summary>Completions waited for per call (-c).</summary>
    public int CompleteBatch { get; init; } = 32;

    /// <summary>IORING_SETUP_IOPOLL (-p); the disk needs poll queues.</summary>
    public bool Poll { get; init; }

    /// <summary>Registered buffers: READ_FIXED/WRITE_FIXED, or IORING_URING_CMD_FIXED (-B).</summary>
    public bool FixedBuffers { get; init; }

    /// <summary>Registered files with IOSQE_FIXED_FILE (-F).</summary>
    public bool RegisteredFiles { get; init; }

    /// <summary>READV/WRITEV, or VIRTBLK_URING_CMD_IO_VEC.</summary>
    public bool Vectored { get; init; }

    /// <summary>O_DIRECT on the block path (-O); passthrough always bypasses the page cache.</summary>
    public bool Direct { get; init; } = true;

    /// <summary>IORING_SETUP_SQPOLL: a kernel thread submits.</summary>
    public bool SqPoll { get; init; }

    /// <summary>Register the ring fd (-X), where the kernel has IORING_REGISTER_RING_FDS.</summary>
    public bool RegisteredRing { get; init; } = true;

    /// <summary>Threads, one ring each (-n).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The CPU of each thread, in order (-1: leave it unpinned); null pins thread i to CPU i modulo the CPUs available.</summary>
    public int[]? CpuAffinity { get; init; }

    /// <summary>Run time; ignored when <see cref="IoCount"/> is set.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>I/Os per thread; 0 = run for <see cref="Duration"/>.</summary>
    public long IoCount { get; init; }

    public BenchmarkPattern Pattern { get; init; } = BenchmarkPattern.Random;

    public bool Random => Pattern == BenchmarkPattern.Random;

    /// <summary>Fixes offsets and data: the same seed and knobs give the same offsets in the same order and the same bytes.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>A warm-up excluded from every figure (I/Os, latency, samples, CPU time); errors and mismatches still count.</summary>
    public TimeSpan Ramp { get; init; }

    /// <summary>The most I/Os per second the whole run issues (shared evenly by the threads); 0 = no cap.</summary>
    public long RateIops { get; init; }

    /// <summary>What writes carry.</summary>
    public BenchmarkBuffer Buffer { get; init; } = BenchmarkBuffer.Random;

    /// <summary>With writes: every written block carries a header and checksum and is read back and checked.</summary>
    public bool Verify { get; init; }

    /// <summary>
    /// Each thread issues exactly as many I/Os as its part of the range has blocks (with a sequential pattern: every
    /// block once), then stops: a verify pass over what a write pass left. Overrides the run time and I/O count; no ramp.
    /// </summary>
    public bool OnePass { get; init; }

    /// <summary>Stop the run at the first mismatch (default: count and go on).</summary>
    public bool StopOnMismatch { get; init; }

    /// <summary>The most mismatches reported one by one (all are counted).</summary>
    public int MaxMismatchesReported { get; init; } = 100;

    public BenchmarkOperation Operation { get; init; } = BenchmarkOperation.Read;

    /// <summary>With <see cref="BenchmarkOperation.Mixed"/>: the share of reads, 0-100.</summary>
    public int ReadPercent { get; init; } = 50;

    /// <summary>First byte of the part of the disk used (rounded up to the block size).</summary>
    public ulong RangeOffset { get; init; }

    /// <summary>Bytes of the disk used from <see cref="RangeOffset"/>; 0 = to the end.</summary>
    public ulong RangeLength { get; init; }

    /// <summary>Record per-I/O latency (off: -NoLatency, for raw maximum IOPS).</summary>
    public bool RecordLatency { get; init; } = true;

    public bool Writes => Operation is BenchmarkOperation.Write or BenchmarkOperation.Mixed;

    /// <summary>Whether blocks carry and are checked against verification headers (a verified write, or a verify pass).</summary>
    public bool Verifies => Operation == BenchmarkOperation.Verify || (Verify && Operation == BenchmarkOperation.Write);
}
