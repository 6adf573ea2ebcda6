using System;
using System.Linq;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

public sealed class RingSetupTests
{
    [Fact]
    public void DefaultRingReportsTheKernelsFeaturesAndSizes()
    {
        using IoUring ring = Rings.Create(100);
        Assert.Equal(128u, ring.SqEntries); // the kernel rounds up to a power of two
        Assert.Equal(256u, ring.CqEntries);
        Assert.Equal(64, ring.SqeSize);
        Assert.Equal(16, ring.CqeSize);
        Assert.Equal(16, ring.UringCmdCapacity);
        Assert.True(ring.Features.HasFlag(IoUringFeatures.SingleMmap));
        Assert.True(ring.Features.HasFlag(IoUringFeatures.NoDrop));
        Assert.True(ring.Features.HasFlag(IoUringFeatures.ExtArg));
    }

    [Theory]
    [InlineData(IoUringSetupFlags.Sqe128)]
    [InlineData(IoUringSetupFlags.Cqe32)]
    [InlineData(IoUringSetupFlags.Sqe128 | IoUringSetupFlags.Cqe32)]
    [InlineData(IoUringSetupFlags.SubmitAll)]
    [InlineData(IoUringSetupFlags.CoopTaskRun)]
    [InlineData(IoUringSetupFlags.CoopTaskRun | IoUringSetupFlags.TaskRunFlag)]
    [InlineData(IoUringSetupFlags.SingleIssuer)]
    [InlineData(IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskRun)]
    [InlineData(IoUringSetupFlags.IoPoll)]
    [InlineData(IoUringSetupFlags.SqPoll)]
    public void EachFlagMakesAWorkingRing(IoUringSetupFlags flags)
    {
        using IoUring ring = Rings.Create(8, flags);
        Assert.Equal(flags, ring.SetupFlags);
        Assert.Equal(flags.HasFlag(IoUringSetupFlags.Sqe128) ? 128 : 64, ring.SqeSize);
        Assert.Equal(flags.HasFlag(IoUringSetupFlags.Cqe32) ? 32 : 16, ring.CqeSize);
        if (flags.HasFlag(IoUringSetupFlags.IoPoll)) return; // an IOPOLL ring only completes polled I/O; NOP is not
        unsafe
        {
            for (ulong i = 0; i < 20; i++) // more than the SQ holds: slots are reused
            {
                Sqe.PrepNop(ring.GetSqeOrThrow(), 1000 + i);
                IoUringCqe cqe = Rings.SubmitOne(ring);
                Assert.Equal(1000 + i, cqe.UserData);
                Assert.Equal(0, cqe.Res);
            }
        }
        Assert.Equal(0, ring.InFlight);
    }

    [Fact]
    public void SqPollWithAffinityAndIdleTimeSubmitsWithoutEnter()
    {
        using var ring = new IoUring(new IoUringOptions
        {
            Entries = 16, Flags = IoUringSetupFlags.SqPoll, SqThreadCpu = 0, SqThreadIdleMilliseconds = 50,
        });
        Assert.True(ring.SetupFlags.HasFlag(IoUringSetupFlags.SqAff));
        unsafe
        {
            for (ulong i = 0; i < 8; i++) Sqe.PrepNop(ring.GetSqeOrThrow(), i);
        }
        ring.Submit();
        Assert.True(ring.WaitCompletions(8, TimeSpan.FromSeconds(5)));
        var cqes = new IoUringCqe[8];
        Assert.Equal(8, ring.PeekCompletions(cqes));
        Assert.Equal(Enumerable.Range(0, 8).Select(i => (ulong)i), cqes.Select(c => c.UserData).Order());
    }

    [Fact]
    public void CqSizeAndClampAreHonoured()
    {
        using (var ring = new IoUring(new IoUringOptions { Entries = 8, CompletionEntries = 64 }))
        {
            Assert.Equal(64u, ring.CqEntries);
            Assert.True(ring.SetupFlags.HasFlag(IoUringSetupFlags.CqSize));
        }
        using (var clamped = new IoUring(new IoUringOptions { Entries = 1 << 20, Flags = IoUringSetupFlags.Clamp }))
        {
            Assert.Equal(32768u, clamped.SqEntries);
        }
    }

    [Fact]
    public void TheKernelIsProbedOncePerProcess()
    {
        IoUringProbeResult probe = IoUringKernel.Probe;
        Assert.Same(probe, IoUringKernel.Probe); // asked once, kept
        Assert.True(IoUringKernel.SupportsSqe128);
        Assert.True(IoUringKernel.Features.HasFlag(IoUringFeatures.ExtArg));
        using (IoUring ring = Rings.Create(2)) Assert.Equal(ring.Features, IoUringKernel.Features);
        Assert.True(IoUringKernel.IsSupported(IoUringOp.UringCmd));
        foreach (IoUringOp op in Enum.GetValues<IoUringOp>().Where(o => o is not (IoUringOp.ReadvFixed or IoUringOp.WritevFixed)))
        {
            Assert.True(probe.IsSupported(op), $"{op} should be supported on this kernel");
        }
        Assert.True(probe.LastOp >= (byte)IoUringOp.UringCmd);
        Assert.False(probe.IsSupported((IoUringOp)255));
    }

    [Fact]
    public void RegisteredRingFdStillSubmits()
    {
        using IoUring ring = Rings.Create(4);
        Assert.True(ring.TryRegisterRingFd());
        Assert.True(ring.RingFdRegistered);
        unsafe { Sqe.PrepNop(ring.GetSqeOrThrow(), 7); }
        Assert.Equal(7ul, Rings.SubmitOne(ring).UserData);
    }

    [Fact]
    public void ZeroEntriesIsRefusedBeforeTheKernel()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Rings.Create(0));
        Assert.Contains("at least one", e.Message);
    }

    [Fact]
    public void TooManyEntriesWithoutClampNamesTheLimit()
    {
        var e = Assert.Throws<IoUringException>(() => Rings.Create(65536));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Equal(IoOperationKind.RingSetup, e.Kind);
        Assert.Equal("io_uring_setup", e.Operation);
        Assert.Contains("32768", e.Message);
        Assert.Contains("CLAMP", e.Message);
    }

    [Fact]
    public void AnUnknownFlagIsNamedWithItsErrno()
    {
        var e = Assert.Throws<IoUringException>(() => Rings.Create(8, (IoUringSetupFlags)(1u << 30)));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("bit 30", e.Message);
        Assert.Contains("EINVAL", e.Message);
    }

    [Fact]
    public void DependentFlagsAreCheckedBeforeTheKernel()
    {
        Assert.Throws<ArgumentException>(() => new IoUring(new IoUringOptions { Entries = 4, SqThreadCpu = 0 }));
        Assert.Throws<ArgumentException>(() => Rings.Create(4, IoUringSetupFlags.DeferTaskRun));
        Assert.Throws<ArgumentException>(() => new IoUring(new IoUringOptions { Entries = 4, SqThreadIdleMilliseconds = 10 }));
    }

    [Fact]
    public void TooSmallCqIsExplained()
    {
        var e = Assert.Throws<IoUringException>(() => new IoUring(new IoUringOptions { Entries = 64, CompletionEntries = 8 }));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("CQ entries", e.Message);
    }


    [Fact]
    public void WaitWithTimeoutReturnsFalseWhenNothingCompletes()
    {
        using IoUring ring = Rings.Create(4);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(ring.WaitCompletions(1, TimeSpan.FromMilliseconds(100)));
        Assert.InRange(sw.ElapsedMilliseconds, 80, 5000);
    }

    [Fact]
    public void UsingADisposedRingThrows()
    {
        IoUring ring = Rings.Create(4);
        ring.Dispose();
        ring.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => ring.Submit());
    }
}

[Collection(nameof(Isolated))]
public sealed class FdLeakChecks
{
    [Fact]
    public static void ManyRingsAndFailures()
    {
        for (int i = 0; i < 5; i++) { using var warm = Rings.Create(8); }
        int before = Rings.OpenFdCount(Rings.IsIoUring);
        for (int i = 0; i < 200; i++)
        {
            using (var r = Rings.Create(8, IoUringSetupFlags.Sqe128)) { }
            Assert.Throws<IoUringException>(() => Rings.Create(65536));
            Assert.Throws<IoUringException>(() => Rings.Create(8, (IoUringSetupFlags)(1u << 30)));
        }
        Assert.Equal(before, Rings.OpenFdCount(Rings.IsIoUring));
    }
}
