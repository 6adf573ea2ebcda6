using System;
using VirtioBlk.Core.Abi;

namespace VirtioBlk.Core.Uring;

/// <summary>What to ask io_uring_setup(2) for. SQ_AFF and CQSIZE are derived from the properties that need them.</summary>
public sealed record IoUringOptions
{
    /// <summary>Submission queue entries (a power of two is used by the kernel; more than 32768 needs <see cref="IoUringSetupFlags.Clamp"/>).</summary>
    public uint Entries { get; init; } = 128;

    /// <summary>Completion queue entries; 0 lets the kernel choose (twice <see cref="Entries"/>).</summary>
    public uint CompletionEntries { get; init; }

    /// <summary>IORING_SETUP_* flags, e.g. IoPoll, SqPoll, Sqe128, Cqe32, Clamp, SubmitAll, CoopTaskRun, SingleIssuer, DeferTaskRun.</summary>
    public IoUringSetupFlags Flags { get; init; }

    /// <summary>With SqPoll: the CPU the kernel's SQ thread is bound to (sets SQ_AFF).</summary>
    public int? SqThreadCpu { get; init; }

    /// <summary>With SqPoll: milliseconds the SQ thread spins before it sleeps; 0 = the kernel's default.</summary>
    public uint SqThreadIdleMilliseconds { get; init; }

    /// <summary>
    /// How long Dispose waits for I/O it cannot cancel (block I/O) before it gives up and leaks the ring's memory
    /// rather than free what the kernel may still write (see <see cref="IoUring.KernelMayOwnMemory"/>).
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> waits for ever.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The flags actually passed to the kernel.</summary>
    public IoUringSetupFlags EffectiveFlags
    {
        get
        {
            IoUringSetupFlags f = Flags;
            if (SqThreadCpu is not null) f |= IoUringSetupFlags.SqAff;
            if (CompletionEntries != 0) f |= IoUringSetupFlags.CqSize;
            return f;
        }
    }
}
