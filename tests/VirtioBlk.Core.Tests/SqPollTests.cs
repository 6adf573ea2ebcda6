using System;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>
/// An SQPOLL ring whose SQ thread has gone to sleep (10 ms idle) must be woken by every path that needs the kernel
/// to see SQEs: the waits with and without a timeout, and the drain in Dispose. Before the fix each of these spun or
/// hung on Linux 6.18; every body runs bounded, so a regression fails instead of hanging the suite.
/// </summary>
public sealed unsafe class SqPollTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private static IoUring SqPollRing(uint depth)
        => new(new IoUringOptions { Entries = depth, Flags = IoUringSetupFlags.SqPoll, SqThreadIdleMilliseconds = 10 });

    /// <summary>Waits (up to 5 s) until the SQ thread has set NEED_WAKEUP, i.e. sleeps until someone wakes it.</summary>
    private static void UntilTheSqThreadSleeps(IoUring ring)
    {
        var sw = Stopwatch.StartNew();
        while (!ring.SqThreadSleeping)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(5)) Assert.Fail("the SQ thread never went to sleep");
            Thread.Sleep(5);
        }
    }

    private static void PrepNops(IoUring ring, uint count)
    {
        for (uint i = 0; i < count; i++) Sqe.PrepNop(ring.GetSqeOrThrow(), i);
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(64u)]
    public void WaitWithATimeoutWakesTheSleepingSqThread(uint depth) => Bounded.Run(Limit, () =>
    {
        using IoUring ring = SqPollRing(depth);
        UntilTheSqThreadSleeps(ring);
        PrepNops(ring, depth);
        var sw = Stopwatch.StartNew();
        Assert.True(ring.WaitCompletions(depth, TimeSpan.FromSeconds(10)), "the NOPs never completed");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(9), $"took {sw.Elapsed}");
        var cqes = new IoUringCqe[depth];
        Assert.Equal((int)depth, ring.PeekCompletions(cqes));
        Assert.Equal(0, ring.InFlight);
    });

    [Theory]
    [InlineData(1u)]
    [InlineData(64u)]
    public void WaitWithoutATimeoutWakesTheSleepingSqThread(uint depth) => Bounded.Run(Limit, () =>
    {
        using IoUring ring = SqPollRing(depth);
        UntilTheSqThreadSleeps(ring);
        PrepNops(ring, depth);
        Assert.True(ring.WaitCompletions(depth));
        Assert.Equal((int)depth, ring.PeekCompletions(new IoUringCqe[depth]));
        UntilTheSqThreadSleeps(ring);
        Sqe.PrepNop(ring.GetSqeOrThrow(), 99);
        Assert.Equal(99ul, ring.WaitCompletion().UserData);
    });

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ATimedWaitEndsAtItsDeadlineWhateverTheKernelAnswers(bool sqPoll) => Bounded.Run(Limit, () =>
    {
        // A read on an empty UDP socket never completes by itself. On an SQPOLL ring io_uring_enter reports the SQEs
        // it was handed rather than -ETIME, so only the deadline can end the wait.
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var buf = new AlignedBuffer(4096);
        using IoUring ring = sqPoll ? SqPollRing(4) : Rings.Create(4);
        if (sqPoll) UntilTheSqThreadSleeps(ring);
        Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.Read, (int)udp.SafeHandle.DangerousGetHandle(), (ulong)(buf.Pointer), 16, 0, 1);
        var sw = Stopwatch.StartNew();
        Assert.False(ring.WaitCompletions(1, TimeSpan.FromMilliseconds(300)));
        Assert.InRange(sw.Elapsed.TotalMilliseconds, 250, 10_000);
        Assert.Equal(1, ring.InFlight);
        Assert.True(ring.KernelMayOwnMemory); // the read still points at buf
        ring.Dispose();                       // the drain cancels the read
        Assert.False(ring.KernelMayOwnMemory);
        Assert.Equal(0, ring.InFlight);
    });

    [Theory]
    [InlineData(1u)]
    [InlineData(64u)]
    public void DisposeWithUnsubmittedSqesReturns(uint depth) => Bounded.Run(Limit, () =>
    {
        IoUring ring = SqPollRing(depth);
        UntilTheSqThreadSleeps(ring);
        PrepNops(ring, depth); // prepared, never submitted: the drain submits them as NOPs
        Assert.Equal(depth, ring.Unsubmitted);
        ring.Dispose();
        Assert.Equal(0, ring.InFlight);
        Assert.False(ring.KernelMayOwnMemory);
    });

    [Theory]
    [InlineData(1u)]
    [InlineData(64u)]
    public void DisposeWithInFlightSqesReturns(uint depth) => Bounded.Run(Limit, () =>
    {
        // Reads on an empty socket stay in flight until cancelled; the drain's cancel SQE must wake the SQ thread.
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var buf = new AlignedBuffer(4096);
        IoUring ring = new(new IoUringOptions
        {
            Entries = depth, CompletionEntries = 2 * depth + 2, Flags = IoUringSetupFlags.SqPoll, SqThreadIdleMilliseconds = 10,
        });
        int fd = (int)udp.SafeHandle.DangerousGetHandle();
        uint reads = Math.Max(1, depth - 1); // one slot left for the drain's cancel
        for (uint i = 0; i < reads; i++) Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.Read, fd, (ulong)(buf.Pointer), 16, 0, i);
        ring.Submit();
        Assert.False(ring.WaitCompletions(1, TimeSpan.FromMilliseconds(50)));
        UntilTheSqThreadSleeps(ring);
        Assert.Equal(reads, (uint)ring.InFlight);
        ring.Dispose();
        Assert.Equal(0, ring.InFlight);
        Assert.False(ring.KernelMayOwnMemory);
    });
}
