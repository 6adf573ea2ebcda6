using System;

namespace VirtioBlk.Core.Io;

/// <summary>The knob of a request that a problem is about. Each front end names it its own way (a cmdlet: "-Sector").</summary>
public enum IoKnob
{
    None,
    Path,
    Sector,
    Count,
    Length,
    Mode,
    Vectored,
    FixedBuffer,
    Poll,
    BlockSize,
    QueueDepth,
    SubmitBatch,
    CompleteBatch,
    Threads,
    ReadPercent,
    Duration,
    IoCount,
    Range,
    CpuAffinity,
    Seed,
    Ramp,
    RateIops,
    Verify,
}

/// <summary>Why the core refuses a request before anything is submitted.</summary>
public enum IoProblem
{
    /// <summary><see cref="IoRequestException.Value"/> is not a multiple of <see cref="IoRequestException.Step"/>.</summary>
    Unaligned,

    /// <summary>Nothing to transfer (zero sectors, empty data).</summary>
    Empty,

    /// <summary>The disk has no medium: size 0 (an unbacked loop device, an ejected disk).</summary>
    NoMedium,

    /// <summary>Sectors past the disk's end; <see cref="IoRequestException.Limit"/> is the disk's sector count.</summary>
    BeyondEnd,

    /// <summary>More bytes in one call than <see cref="IoRequestException.Limit"/>.</summary>
    TooLarge,

    /// <summary>Memory the request would pin (depth x block size x threads) exceeds <see cref="IoRequestException.Limit"/> bytes.</summary>
    BufferTooLarge,

    /// <summary>A number outside [<see cref="IoRequestException.Minimum"/>, <see cref="IoRequestException.Limit"/>].</summary>
    OutOfRange,

    /// <summary>Passthrough with vectored I/O on a registered buffer: the kernel refuses IO_VEC with URING_CMD_FIXED.</summary>
    VectoredFixedOnPassthrough,

    /// <summary>Vectored I/O on a registered buffer on the block path needs READV_FIXED (Linux 6.15), which this kernel lacks.</summary>
    VectoredFixedNeedsKernel,

    /// <summary>Polled I/O on a disk without poll queues (queue/io_poll = 0).</summary>
    PollUnavailable,

    /// <summary>Passthrough on a virtio-blk disk whose kernel has no char device for it.</summary>
    PassthroughUnavailable,

    /// <summary>Passthrough on a disk that virtio_blk does not drive.</summary>
    PassthroughNeedsVirtio,

    /// <summary>A node that does not carry the requested path (a block device given to passthrough, or the reverse).</summary>
    WrongNode,

    /// <summary>A write to a read-only disk.</summary>
    ReadOnlyDisk,

    /// <summary>A range that is not START-END, START+LENGTH or LENGTH.</summary>
    RangeMalformed,

    /// <summary>A range whose end is before its start.</summary>
    RangeReversed,

    /// <summary>A range of zero bytes.</summary>
    RangeEmpty,

    /// <summary>A range whose numbers do not fit 64 bits.</summary>
    RangeOverflow,

    /// <summary>A range that starts or ends past the disk's end.</summary>
    RangeOutsideDisk,

    /// <summary>A range too short for one block of the block size.</summary>
    RangeHoldsNoBlock,

    /// <summary>A CPU this process may not run on (outside its affinity mask).</summary>
    CpuNotAllowed,

    /// <summary>Verification asked for a workload that writes nothing to verify (reads, or mixed reads and writes).</summary>
    VerifyNeedsWrite,

    /// <summary>
    /// A verified run whose range gives a thread fewer blocks than the run needs (at least one, and for sequential
    /// verified writes at least the queue depth, so one block is never in flight twice with different contents).
    /// </summary>
    VerifyRangeTooSmall,
}

/// <summary>
/// A request the core refuses before submission, with its reason as data: the front end maps
/// <see cref="Problem"/> and <see cref="Knob"/> to its own parameter names and error records. The message is
/// neutral (no front end's syntax) and complete for callers that just print it.
/// </summary>
public sealed class IoRequestException : ArgumentException
{
    public IoRequestException(IoProblem problem, IoKnob knob, string message) : base(message)
    {
        Problem = problem;
        Knob = knob;
    }

    public IoProblem Problem { get; }

    public IoKnob Knob { get; }

    /// <summary>The offending value, where it is a number.</summary>
    public ulong? Value { get; init; }

    /// <summary>The lower bound, for <see cref="IoProblem.OutOfRange"/>.</summary>
    public ulong? Minimum { get; init; }

    /// <summary>The upper bound or size the value is checked against (disk sectors, the byte limit, the maximum).</summary>
    public ulong? Limit { get; init; }

    /// <summary>For <see cref="IoProblem.Unaligned"/>: the multiple required (sectors for sector knobs, bytes for byte knobs).</summary>
    public ulong? Step { get; init; }

    /// <summary>The first sector of a refused sector range, for <see cref="IoProblem.BeyondEnd"/>.</summary>
    public ulong? Start { get; init; }

    /// <summary>The disk, when the problem is about one.</summary>
    public string? Disk { get; init; }

    /// <summary>The disk's logical block size, for alignment problems.</summary>
    public int? LogicalBlockSize { get; init; }
}
