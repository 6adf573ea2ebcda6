using System;
using System.Net;
using System.Net.Sockets;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>
/// URING_CMD end to end on a host with no virtio char device: sockets accept uring_cmd from Linux 6.7, and
/// SOCKET_URING_OP_SIOCINQ answers the bytes queued on the socket.
/// </summary>
public sealed unsafe class UringCmdSocketTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void SiocInqOnAUdpSocketAnswersTheQueuedBytes(bool sqe128, bool fixedFile)
    {
        RequireSocketUringCmd();
        using var rx = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rx.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var tx = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        tx.SendTo("hello world"u8.ToArray(), rx.LocalEndPoint!);
        SpinUntil(() => rx.Available > 0);

        using IoUring ring = Rings.Create(4, sqe128 ? IoUringSetupFlags.Sqe128 : 0);
        int fd = (int)rx.SafeHandle.DangerousGetHandle();
        if (fixedFile)
        {
            ring.RegisterFiles(rx.SafeHandle);
            fd = 0;
        }
        IoUringSqe* sqe = ring.GetSqeOrThrow();
        Sqe.PrepUringCmd(sqe, ring.SqeSize, fd, IoUringConstants.SocketUringOpSiocInq, ReadOnlySpan<byte>.Empty, 42);
        if (fixedFile) Sqe.SetFixedFile(sqe);
        Assert.Equal((byte)IoUringOp.UringCmd, sqe->Opcode);
        Assert.Equal(IoUringConstants.SocketUringOpSiocInq, sqe->CmdOp);
        IoUringCqe cqe = Rings.SubmitOne(ring);
        Assert.Equal(42ul, cqe.UserData);
        Assert.Equal(11, cqe.Res);
    }

    [Fact]
    public void AnUnknownCmdOpOnASocketIsRefusedByTheKernel()
    {
        RequireSocketUringCmd();
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using IoUring ring = Rings.Create(4);
        Sqe.PrepUringCmd(ring.GetSqeOrThrow(), ring.SqeSize, (int)udp.SafeHandle.DangerousGetHandle(), 0x7fff, default, 1);
        Assert.Equal(-(int)Errno.EOPNOTSUPP, Rings.SubmitOne(ring).Res);
    }

    [Fact]
    public void AnAfUnixSocketAnswersEopnotsupp()
    {
        RequireSocketUringCmd();
        using var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using IoUring ring = Rings.Create(4);
        Sqe.PrepUringCmd(ring.GetSqeOrThrow(), ring.SqeSize, (int)unix.SafeHandle.DangerousGetHandle(), IoUringConstants.SocketUringOpSiocInq, default, 1);
        Assert.Equal(-(int)Errno.EOPNOTSUPP, Rings.SubmitOne(ring).Res);
    }

    [Theory]
    [InlineData(false, 16, 17)]
    [InlineData(true, 80, 81)]
    public void PayloadsBeyondTheSqesCommandAreaAreRefused(bool sqe128, int fits, int tooBig)
    {
        using IoUring ring = Rings.Create(4, sqe128 ? IoUringSetupFlags.Sqe128 : 0);
        Assert.Equal(fits, ring.UringCmdCapacity);
        IoUringSqe* sqe = ring.GetSqeOrThrow();
        byte[] ok = new byte[fits];
        Array.Fill(ok, (byte)0xAB);
        Sqe.PrepUringCmd(sqe, ring.SqeSize, 0, 1, ok, 9);
        Assert.Equal(0xAB, ((byte*)sqe)[48 + fits - 1]);
        var e = Assert.Throws<ArgumentException>(() => Sqe.PrepUringCmd(sqe, ring.SqeSize, 0, 1, new byte[tooBig], 9));
        Assert.Contains($"{tooBig} bytes does not fit", e.Message);
        if (!sqe128) Assert.Contains("SQE128", e.Message);
    }

    [Fact]
    public void ACommandNeverCarriesStaleBytesFromAnEarlierSqe()
    {
        using IoUring ring = Rings.Create(1, IoUringSetupFlags.Sqe128);
        IoUringSqe* sqe = ring.GetSqeOrThrow();
        new Span<byte>(sqe, 128).Fill(0xFF);
        Sqe.PrepUringCmdFixed(sqe, 128, 5, 2, new byte[] { 1, 2, 3 }, 7, 99);
        Assert.Equal(IoUringConstants.UringCmdFixed, sqe->OpFlags);
        Assert.Equal(7, sqe->BufIndex);
        Assert.Equal(new byte[] { 1, 2, 3 }, new Span<byte>((byte*)sqe + 48, 3).ToArray());
        Assert.True(new Span<byte>((byte*)sqe + 51, 77).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, true, true)]
    public void ThePerIoPassthroughPreparerWritesWhatTheGeneralOneWrites(bool write, bool fixedBuffer, bool registeredFile)
    {
        // IoShape's inlined case (word stores, for the benchmark's loop) against VirtioBlkCommand.Prep (a span copy):
        // both slots start full of stale bytes, so every byte the fast one leaves unwritten shows.
        using IoUring ring = Rings.Create(2, IoUringSetupFlags.Sqe128);
        IoUringSqe* fast = ring.GetSqeOrThrow(), general = ring.GetSqeOrThrow();
        new Span<byte>(fast, 128).Fill(0xA5);
        new Span<byte>(general, 128).Fill(0x5A);
        var shape = new IoShape(IoPathKind.Passthrough, vectored: false, fixedBuffer, registeredFile, 4096);
        byte* buffer = (byte*)0x7f00_1234_5000;
        ulong offset = (1UL << 44) + 4096 * 3; // a sector above 2^32
        shape.Prepare(fast, 128, 3, write, buffer, 65536, offset, null, 0xDEAD_BEEF_0000_0001);
        VirtioBlkCommand.Prep(general, 128, 3, write ? VirtioBlkRequestType.Out : VirtioBlkRequestType.In, offset >> 9,
            buffer, 65536, vectored: false, fixedBuffer ? 0 : -1, 0xDEAD_BEEF_0000_0001);
        if (registeredFile) Sqe.SetFixedFile(general);
        Assert.Equal(new Span<byte>(general, 128).ToArray(), new Span<byte>(fast, 128).ToArray());
        Assert.Throws<ArgumentException>(() => shape.Prepare(fast, 64, 3, write, buffer, 65536, offset, null, 1));
    }

    [Theory]
    [InlineData(IoPathKind.Block, false, false, false)]
    [InlineData(IoPathKind.Block, true, true, false)]
    [InlineData(IoPathKind.Block, false, true, true)]
    [InlineData(IoPathKind.Passthrough, false, false, false)]
    [InlineData(IoPathKind.Passthrough, true, true, true)]
    [InlineData(IoPathKind.Passthrough, true, false, true)]
    public void TheTemplatePreparerWritesWhatThePlainOneWrites(IoPathKind path, bool write, bool fixedBuffer, bool registeredFile)
    {
        // The benchmark's loop copies a template and patches three fields (IoShape.PreparePlainFromTemplate); it must
        // leave exactly what PreparePlain writes, for every I/O: both slots start full of different stale bytes, and
        // the template slot is reused for many offsets, buffers and user data so a field left over from the last
        // I/O shows.
        int sqeSize = path == IoPathKind.Passthrough ? 128 : 64;
        using IoUring ring = Rings.Create(2, path == IoPathKind.Passthrough ? IoUringSetupFlags.Sqe128 : IoUringSetupFlags.None);
        IoUringSqe* fromTemplate = ring.GetSqeOrThrow(), plain = ring.GetSqeOrThrow();
        new Span<byte>(fromTemplate, sqeSize).Fill(0xA5);
        var shape = new IoShape(path, vectored: false, fixedBuffer, registeredFile, 512);
        Assert.Equal(sqeSize, shape.PlainTemplateSize);
        byte* template = stackalloc byte[128];
        new Span<byte>(template, 128).Fill(0x3C);
        shape.PreparePlainTemplate(template, 7, write, 8192);
        var rng = new Random(11);
        for (int i = 0; i < 200; i++)
        {
            byte* buffer = (byte*)(0x7f00_0000_0000 + (long)rng.Next() * 4096);
            ulong offset = (ulong)rng.NextInt64(0, 1L << 50) & ~511UL;
            ulong userData = (ulong)rng.NextInt64();
            new Span<byte>(plain, sqeSize).Fill((byte)i);
            shape.PreparePlain(plain, 7, write, buffer, 8192, offset, userData);
            IoShape.PreparePlainFromTemplate(fromTemplate, template, path == IoPathKind.Passthrough, buffer, offset, userData);
            Assert.Equal(new Span<byte>(plain, sqeSize).ToArray(), new Span<byte>(fromTemplate, sqeSize).ToArray());
        }
    }

    private static readonly Lazy<bool> SocketsTakeUringCmd = new(() =>
    {
        // Asked of the kernel, not inferred from its version: an empty UDP socket answers 0 where sockets
        // implement uring_cmd (Linux 6.7+) and -EOPNOTSUPP where they do not.
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using IoUring ring = Rings.Create(2);
        Sqe.PrepUringCmd(ring.GetSqeOrThrow(), ring.SqeSize, (int)udp.SafeHandle.DangerousGetHandle(), IoUringConstants.SocketUringOpSiocInq, default, 1);
        return Rings.SubmitOne(ring).Res == 0;
    });

    private static void RequireSocketUringCmd()
    {
        if (!SocketsTakeUringCmd.Value)
        {
            Assert.Skip("this kernel's sockets do not implement uring_cmd (SOCKET_URING_OP_SIOCINQ arrived in Linux 6.7)");
        }
    }

    private static void SpinUntil(Func<bool> condition)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!condition() && sw.ElapsedMilliseconds < 2000) System.Threading.Thread.Sleep(1);
    }
}
