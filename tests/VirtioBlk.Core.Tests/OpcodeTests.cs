using System;
using System.IO;
using System.Linq;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>Each opcode the core prepares, against a real file, with the bytes compared.</summary>
public sealed unsafe class OpcodeTests
{
    private const int Block = 4096;

    public static TheoryData<bool, bool> SqeSizesAndFixedFiles => new()
    {
        { false, false }, { false, true }, { true, false }, { true, true },
    };

    [Theory]
    [MemberData(nameof(SqeSizesAndFixedFiles))]
    public void WriteThenReadRoundTrips(bool sqe128, bool fixedFile)
        => RoundTrip(sqe128, fixedFile, (ring, sqe, fd, buf, off, write, ud) =>
        {
            if (write) Sqe.PrepRw(sqe, IoUringOp.Write, fd, (ulong)(buf.Pointer), Block, off, ud);
            else Sqe.PrepRw(sqe, IoUringOp.Read, fd, (ulong)(buf.Pointer), Block, off, ud);
        });

    [Theory]
    [MemberData(nameof(SqeSizesAndFixedFiles))]
    public void WritevThenReadvRoundTrips(bool sqe128, bool fixedFile)
    {
        using var iov = new AlignedBuffer(2 * sizeof(IoVec));
        RoundTrip(sqe128, fixedFile, (ring, sqe, fd, buf, off, write, ud) =>
        {
            var v = (IoVec*)iov.Pointer;
            v[0] = new IoVec { Base = buf.Address, Length = 1000 };           // uneven split: buffered files allow it
            v[1] = new IoVec { Base = buf.Address + 1000, Length = Block - 1000 };
            if (write) Sqe.PrepRw(sqe, IoUringOp.Writev, fd, (ulong)(v), 2, off, ud);
            else Sqe.PrepRw(sqe, IoUringOp.Readv, fd, (ulong)(v), 2, off, ud);
        });
    }

    [Theory]
    [MemberData(nameof(SqeSizesAndFixedFiles))]
    public void WriteFixedThenReadFixedRoundTrips(bool sqe128, bool fixedFile)
        => RoundTrip(sqe128, fixedFile, (ring, sqe, fd, buf, off, write, ud) =>
        {
            if (ring.RegisteredBufferCount == 0) ring.RegisterBuffers(new[] { buf });
            if (write) Sqe.PrepRw(sqe, IoUringOp.WriteFixed, fd, (ulong)(buf.Pointer), Block, off, ud);
            else Sqe.PrepRw(sqe, IoUringOp.ReadFixed, fd, (ulong)(buf.Pointer), Block, off, ud);
        });

    [Fact]
    public void FsyncCompletes()
    {
        using var file = new TempFile(Block);
        using var fs = new FileStream(file.Path, FileMode.Open, FileAccess.ReadWrite);
        using IoUring ring = Rings.Create(4);
        Sqe.PrepFsync(ring.GetSqeOrThrow(), (int)fs.SafeFileHandle.DangerousGetHandle(), dataSync: false, 5);
        Sqe.PrepFsync(ring.GetSqeOrThrow(), (int)fs.SafeFileHandle.DangerousGetHandle(), dataSync: true, 6);
        ring.SubmitAndWait(2);
        var cqes = new IoUringCqe[2];
        Assert.Equal(2, ring.PeekCompletions(cqes));
        Assert.All(cqes, c => Assert.Equal(0, c.Res));
        Assert.Equal(new ulong[] { 5, 6 }, cqes.Select(c => c.UserData).Order());
    }

    [Fact]
    public void AClosedFdCompletesWithEbadf()
    {
        using IoUring ring = Rings.Create(4);
        using var buf = new AlignedBuffer(Block);
        int fd;
        using (var file = new TempFile(Block))
        using (var fs = new FileStream(file.Path, FileMode.Open)) { fd = (int)fs.SafeFileHandle.DangerousGetHandle(); }
        // The fd number is closed now (nothing in this test reopens it before the submit).
        Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.Read, fd, (ulong)(buf.Pointer), Block, 0, 1);
        IoUringCqe cqe = Rings.SubmitOne(ring);
        Assert.Equal(-(int)Errno.EBADF, cqe.Res);
        var e = Assert.Throws<IoUringException>(() => ErrnoText.ThrowIfNegative(cqe.Res, IoOperationKind.Read, "READ"));
        Assert.Equal(Errno.EBADF, e.Errno);
        Assert.Contains("READ failed: EBADF (9)", e.Message);
    }

    [Fact]
    public void AnUnregisteredFixedFileCompletesWithEbadf()
    {
        using IoUring ring = Rings.Create(4);
        using var buf = new AlignedBuffer(Block);
        IoUringSqe* sqe = ring.GetSqeOrThrow();
        Sqe.PrepRw(sqe, IoUringOp.Read, 3, (ulong)(buf.Pointer), Block, 0, 1);
        Sqe.SetFixedFile(sqe);
        Assert.Equal(-(int)Errno.EBADF, Rings.SubmitOne(ring).Res);
    }

    [Fact]
    public void AnUnregisteredFixedBufferIsRefusedByTheKernel()
    {
        using var file = new TempFile(Block);
        using var fs = new FileStream(file.Path, FileMode.Open);
        using IoUring ring = Rings.Create(4);
        using var buf = new AlignedBuffer(Block);
        Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.ReadFixed, (int)fs.SafeFileHandle.DangerousGetHandle(), (ulong)(buf.Pointer), Block, 0, 1);
        Assert.Equal(-(int)Errno.EFAULT, Rings.SubmitOne(ring).Res);

        ring.RegisterBuffers(new[] { buf });
        Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.ReadFixed, (int)fs.SafeFileHandle.DangerousGetHandle(), (ulong)(buf.Pointer + 8), Block, 0, 2);
        Assert.Equal(-(int)Errno.EFAULT, Rings.SubmitOne(ring).Res);
    }

    [Fact]
    public void RegisteringBuffersTwiceIsRefusedAndUnregisterWorks()
    {
        using IoUring ring = Rings.Create(4);
        using var a = new AlignedBuffer(Block);
        ring.RegisterBuffers(new[] { a });
        Assert.Throws<InvalidOperationException>(() => ring.RegisterBuffers(new[] { a }));
        ring.UnregisterBuffers();
        Assert.Equal(0, ring.RegisteredBufferCount);
        ring.RegisterBuffers(new[] { a });
        Assert.Equal(1, ring.RegisteredBufferCount);
    }

    [Fact]
    public void AFullSqIsReportedNotOverrun()
    {
        using IoUring ring = Rings.Create(4);
        for (int i = 0; i < 4; i++) Sqe.PrepNop(ring.GetSqeOrThrow(), (ulong)i);
        Assert.True(ring.GetSqe() == null);
        Assert.Throws<InvalidOperationException>(() => ring.GetSqeOrThrow());
        Assert.Equal(4, ring.SubmitAndWait(4));
        var cqes = new IoUringCqe[8];
        Assert.Equal(4, ring.PeekCompletions(cqes));
    }

    [Fact]
    public void CqOverflowLosesNothing()
    {
        // 4 SQ entries, 8 CQ entries: 64 NOPs submitted without reaping overflow the CQ; the kernel keeps them (NODROP).
        using var ring = new IoUring(new IoUringOptions { Entries = 4, CompletionEntries = 8 });
        for (int i = 0; i < 64; i += 4)
        {
            for (int j = 0; j < 4; j++) Sqe.PrepNop(ring.GetSqeOrThrow(), (ulong)(i + j));
            ring.Submit();
        }
        var seen = new bool[64];
        int n = 0;
        var cqes = new IoUringCqe[8];
        while (n < 64)
        {
            int got = ring.PeekCompletions(cqes);
            if (got == 0) { ring.WaitCompletions(1, TimeSpan.FromSeconds(5)); continue; }
            for (int k = 0; k < got; k++) { Assert.False(seen[cqes[k].UserData]); seen[cqes[k].UserData] = true; }
            n += got;
        }
        Assert.All(seen, Assert.True);
        Assert.Equal(0u, ring.CqOverflowCount);
        Assert.Equal(0, ring.InFlight);
    }

    private delegate void Prep(IoUring ring, IoUringSqe* sqe, int fd, AlignedBuffer buf, ulong offset, bool write, ulong userData);

    private static void RoundTrip(bool sqe128, bool fixedFile, Prep prep)
    {
        using var file = new TempFile(16 * Block);
        using var fs = new FileStream(file.Path, FileMode.Open, FileAccess.ReadWrite);
        int rawFd = (int)fs.SafeFileHandle.DangerousGetHandle();
        using IoUring ring = Rings.Create(8, sqe128 ? IoUringSetupFlags.Sqe128 : 0);
        int fd = rawFd;
        if (fixedFile)
        {
            ring.RegisterFiles(fs.SafeFileHandle);
            fd = 0;
        }
        using var buf = new AlignedBuffer(Block);
        for (int blk = 0; blk < 16; blk += 5)
        {
            Rings.Fill(buf.Span, blk);
            byte[] expected = buf.Span.ToArray();
            IoUringSqe* ws = ring.GetSqeOrThrow();
            prep(ring, ws, fd, buf, (ulong)(blk * Block), true, 100);
            if (fixedFile) Sqe.SetFixedFile(ws);
            IoUringCqe w = Rings.SubmitOne(ring);
            Assert.Equal(Block, w.Res);
            Assert.Equal(100ul, w.UserData);

            byte[] onDisk = new byte[Block];
            RandomAccess.Read(fs.SafeFileHandle, onDisk, blk * Block);
            Assert.Equal(expected, onDisk);

            buf.Span.Clear();
            IoUringSqe* rs = ring.GetSqeOrThrow();
            prep(ring, rs, fd, buf, (ulong)(blk * Block), false, 200);
            if (fixedFile) Sqe.SetFixedFile(rs);
            IoUringCqe r = Rings.SubmitOne(ring);
            Assert.Equal(Block, r.Res);
            Assert.Equal(200ul, r.UserData);
            Assert.Equal(expected, buf.Span.ToArray());
        }
    }

}
