using System;
using System.IO;
using System.Linq;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>The block path on real loop devices (over tmpfs files), bytes compared with the backing file.</summary>
public sealed class LoopDeviceTests
{
    public static TheoryData<int, bool, bool, int> Modes()
    {
        var data = new TheoryData<int, bool, bool, int>();
        foreach (int depth in new[] { 1, 8, 32, 128, 256 })
        foreach (bool vectored in new[] { false, true })
        foreach (bool fixedBuf in new[] { false, true })
        {
            data.Add(depth, vectored, fixedBuf, 512);
        }
        data.Add(8, false, false, 4096);
        data.Add(8, true, false, 4096);
        data.Add(8, false, true, 4096);
        return data;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void SessionWritesAndReadsBackEveryByte(int depth, bool vectored, bool fixedBuffer, int sectorSize)
    {
        using LoopDevice loop = LoopDevice.Create(8 << 20, sectorSize);
        var options = new SectorIoOptions { QueueDepth = depth, Vectored = vectored, FixedBuffer = fixedBuffer, MaxIoBytes = 16 * 1024, Write = true };
        SectorIoSession session;
        try
        {
            session = SectorIoSession.Open(loop.Path, options);
        }
        catch (IoUringException e) when (e.Operation == "READV_FIXED")
        {
            Assert.Skip(e.Message); // vectored + fixed needs Linux 6.15's READV_FIXED
            return;
        }
        using (session)
        {
            Assert.Equal(sectorSize, session.Geometry.LogicalBlockSize);
            Assert.Equal((ulong)loop.Size, session.Geometry.SizeBytes);
            // 1 MiB + one block: not a multiple of the 16 KiB I/O size, so the last I/O is short.
            byte[] data = new byte[(1 << 20) + sectorSize];
            Rings.Fill(data, depth * 31 + sectorSize);
            ulong sector = (ulong)(sectorSize / 512 * 3);
            session.Write(sector, data);
            session.Flush();
            Assert.Equal((data.Length + 16 * 1024 - 1) / (16 * 1024), session.IoCount);

            byte[] backing = File.ReadAllBytes(loop.BackingFile).AsSpan((int)sector * 512, data.Length).ToArray();
            Assert.True(data.AsSpan().SequenceEqual(backing), "the backing file differs from what was written");

            byte[] back = new byte[data.Length];
            session.Read(sector, back);
            Assert.True(data.AsSpan().SequenceEqual(back), "the read differs from what was written");
        }
    }

    [Fact]
    public void TheLastAndFirstSectorsAreReachableAndOnePastTheEndIsNot()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20);
        using SectorIoSession s = SectorIoSession.Open(loop.Path, new SectorIoOptions { Write = true });
        ulong last = s.Geometry.Sectors - 1;
        byte[] block = new byte[512];
        Rings.Fill(block, 5);
        s.Write(last, block);
        s.Write(0, block);
        byte[] back = new byte[512];
        s.Read(last, back);
        Assert.Equal(block, back);
        var e = Assert.Throws<IoRequestException>(() => s.Read(last, new byte[1024]));
        Assert.Equal(IoProblem.BeyondEnd, e.Problem);
        Assert.Equal(last, e.Start);
        Assert.Equal(last + 1, e.Limit);
        Assert.Contains("past the end", e.Message);
        Assert.Equal(IoProblem.Unaligned, Assert.Throws<IoRequestException>(() => s.Read(0, new byte[100])).Problem);
        Assert.Equal(IoProblem.Empty, Assert.Throws<IoRequestException>(() => s.Read(0, Array.Empty<byte>())).Problem);
        // The largest sector is past the end, with no wrap-around in the arithmetic or the message.
        var far = Assert.Throws<IoRequestException>(() => s.Read(ulong.MaxValue - 1, new byte[1024]));
        Assert.Equal(IoProblem.BeyondEnd, far.Problem);
        Assert.DoesNotContain("..", far.Message);
    }

    [Fact]
    public void UnalignedSectorsOn4KDisksAreRefusedWithTheNearestValue()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20, 4096);
        using SectorIoSession s = SectorIoSession.Open(loop.Path, new SectorIoOptions());
        var e = Assert.Throws<IoRequestException>(() => s.Read(3, new byte[4096]));
        Assert.Equal((IoProblem.Unaligned, IoKnob.Sector, 8UL, 3UL), (e.Problem, e.Knob, e.Step, e.Value));
        Assert.Contains("multiple of 8", e.Message);
        var length = Assert.Throws<IoRequestException>(() => s.Read(8, new byte[512]));
        Assert.Equal((IoProblem.Unaligned, IoKnob.Length), (length.Problem, length.Knob));
    }

    [Fact]
    public unsafe void IoPollWithoutPollQueuesIsRefusedBeforeSubmissionAndTheKernelAgrees()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20);
        var refused = Assert.Throws<IoRequestException>(() => SectorIoSession.Open(loop.Path, new SectorIoOptions { Poll = true }));
        Assert.Equal(IoProblem.PollUnavailable, refused.Problem);
        Assert.Equal(IoKnob.Poll, refused.Knob);

        // The rule stands for the kernel's answer: a polled READ on this disk completes with -EOPNOTSUPP.
        using var fd = SafeFileDescriptor.Open(loop.Path, Interop.Sys.O_RDONLY | Interop.Sys.O_DIRECT);
        using var buf = new AlignedBuffer(4096);
        using IoUring ring = Rings.Create(2, IoUringSetupFlags.IoPoll);
        new IoShape(IoPathKind.Block, false, false, false, 512).Prepare(ring.GetSqeOrThrow(), ring.SqeSize, fd.Fd, false, buf.Pointer, 4096, 0, null, 1);
        ring.SubmitAndWait(1);
        Assert.Equal(-(int)Errno.EOPNOTSUPP, ring.WaitCompletion().Res);
    }

    [Fact]
    public unsafe void UnalignedODirectBuffersAreRefusedByTheKernel()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20, 4096);
        using SafeFileDescriptor fd = SafeFileDescriptor.Open(loop.Path, Interop.Sys.O_RDONLY | Interop.Sys.O_DIRECT);
        using var buf = new AlignedBuffer(8192);
        using IoUring ring = Rings.Create(2);
        // Memory misaligned for the queue's DMA alignment (511 on loop devices), then a file offset off the 4 KiB grid.
        Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.Read, fd.Fd, (ulong)(buf.Pointer + 1), 4096, 0, 1);
        Assert.Equal(-(int)Errno.EINVAL, Rings.SubmitOne(ring).Res);
        Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.Read, fd.Fd, (ulong)(buf.Pointer), 4096, 512, 2);
        Assert.Equal(-(int)Errno.EINVAL, Rings.SubmitOne(ring).Res);
    }

    [Fact]
    public void PassthroughOnABlockDeviceAndTheReverseAreRefused()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20);
        Assert.Equal(IoProblem.WrongNode, Assert.Throws<IoRequestException>(() => SectorIoSession.Open(loop.Path, new SectorIoOptions { Path = IoPathKind.Passthrough })).Problem);
        Assert.Throws<IoRequestException>(() => SectorIoSession.Open(loop.Path,
            new SectorIoOptions { Path = IoPathKind.Passthrough, Vectored = true, FixedBuffer = true }));
        var missing = Assert.Throws<DiskIdentityException>(() => SectorIoSession.Open("/dev/does-not-exist", new SectorIoOptions()));
        Assert.Equal(DiskIdentityProblem.NotFound, missing.Problem);
    }

    [Fact]
    public void OpeningTheHostsOwnDiskForWritingIsRefusedAndLeaksNothing()
    {
        if (!File.Exists("/dev/vda")) Assert.Skip("no /dev/vda on this machine");
        if (Environment.GetEnvironmentVariable("VBK_GUEST") == "1") Assert.Skip("in the test VM /dev/vda is a scratch disk, not the host's root");
        // The sandbox refuses any open of its root disk; the error must be a typed EPERM/EACCES, never a write.
        var e = Assert.Throws<IoUringException>(() => SafeFileDescriptor.Open("/dev/vda", Interop.Sys.O_RDONLY));
        Assert.Contains(e.Errno, new[] { Errno.EPERM, Errno.EACCES });
        Assert.Equal("/dev/vda", e.Path);
    }
}
