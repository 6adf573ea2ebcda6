using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>A guest disk found by its QEMU serial (the matrix of tests/vm/README.md: vbfile, vbnull, vbfault, ...).</summary>
internal sealed record VirtioDisk(string Name, string BlockPath, string CharPath, DiskGeometry Geometry)
{
    public static VirtioDisk Require(string serial)
    {
        string? name = Directory.Exists("/sys/block")
            ? Directory.GetDirectories("/sys/block", "vd*").Select(Path.GetFileName)
                .FirstOrDefault(n => File.Exists($"/sys/block/{n}/serial") && File.ReadAllText($"/sys/block/{n}/serial").Trim() == serial)
            : null;
        if (name is null)
        {
            Assert.Skip($"no virtio disk with serial '{serial}': this runs in the VM tier (build.ps1 -Task VmTest)");
        }
        string chr = $"/dev/{name}c0";
        if (!File.Exists(chr))
        {
            Assert.Skip($"{chr} is missing: this kernel lacks the virtio-blk passthrough series (see kernel/README.md)");
        }
        VirtioBlk.Tests.Support.Require.Root();
        return new VirtioDisk(name!, $"/dev/{name}", chr, DiskGeometry.FromSysfs(name!));
    }
}

/// <summary>
/// The core against the passthrough char device of the project's patched kernel, in the guest: every mode
/// round-trips bytes, both paths agree, and each refusal the kernel patch promises is observed.
/// </summary>
[Trait("Tier", "Vm")]
public sealed unsafe class PassthroughTests
{
    public static TheoryData<string> Positions => new() { "first", "middle", "last" };

    [Fact]
    public void EveryVirtioDiskHasItsCharDeviceInClassVblkGeneric()
    {
        VirtioDisk.Require("vbfile");
        string[] disks = Directory.GetDirectories("/sys/block", "vd*").Select(Path.GetFileName).ToArray()!;
        Assert.NotEmpty(disks);
        foreach (string d in disks)
        {
            Assert.True(File.Exists($"/dev/{d}c0"), $"/dev/{d}c0 missing");
            Assert.Equal(DeviceNodeKind.CharacterDevice, DeviceNodeInfo.Stat($"/dev/{d}c0").Kind);
            Assert.True(Directory.Exists($"/sys/class/vblk-generic/{d}c0"), $"{d}c0 not in class vblk-generic");
            Assert.Equal(d, DiskIdentity.Resolve($"/dev/{d}c0").Disk);
        }
    }

    [Theory]
    [MemberData(nameof(Positions))]
    public void ReadAndWriteAtFirstMiddleAndLastSector(string where)
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        ulong sectors = disk.Geometry.Sectors;
        ulong sector = where switch { "first" => 0, "middle" => sectors / 2, _ => sectors - 8 };
        RoundTripThenCrossCheck(disk, sector, 4096, new SectorIoOptions { Path = IoPathKind.Passthrough, Write = true });
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    public void EveryModeRoundTripsAMegabyteAtDepth(bool vectored, bool fixedBuffer, bool poll)
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        Assert.True(disk.Geometry.IoPoll, "the VM boots with virtio_blk.poll_queues=1");
        RoundTripThenCrossCheck(disk, 2048, (1 << 20) + 4096, new SectorIoOptions
        {
            Path = IoPathKind.Passthrough, Vectored = vectored, FixedBuffer = fixedBuffer, Poll = poll,
            QueueDepth = 16, MaxIoBytes = 64 * 1024, Write = true,
        });
    }

    [Fact]
    public void WritesThroughTheBlockDeviceAreReadBackThroughPassthrough()
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        byte[] data = Pattern(64 * 1024, 77);
        using (var blk = SectorIoSession.Open(disk.BlockPath, new SectorIoOptions { Write = true }))
        {
            blk.Write(4096, data);
            blk.Flush();
        }
        byte[] back = new byte[data.Length];
        using (var pt = SectorIoSession.Open(disk.CharPath, new SectorIoOptions { Path = IoPathKind.Passthrough }))
        {
            pt.Read(4096, back);
        }
        Assert.True(data.AsSpan().SequenceEqual(back));
    }

    [Fact]
    public void FlushMakesPassthroughWritesDurable()
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        using var pt = SectorIoSession.Open(disk.CharPath, new SectorIoOptions { Path = IoPathKind.Passthrough, Write = true });
        pt.Write(8192, Pattern(4096, 3));
        pt.Flush(); // VIRTIO_BLK_T_FLUSH: status 0
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheNullDiskAnswersOkThroughBothPathsAtItsLastSectors(bool poll)
    {
        // QEMU's null-co device leaves the data untouched, so only the status is checked here; data is checked on vbfile.
        VirtioDisk disk = VirtioDisk.Require("vbnull");
        foreach (IoPathKind path in new[] { IoPathKind.Passthrough, IoPathKind.Block })
        {
            byte[] buf = new byte[128 * 1024];
            using var s = SectorIoSession.Open(path == IoPathKind.Passthrough ? disk.CharPath : disk.BlockPath,
                new SectorIoOptions { Path = path, Poll = poll, QueueDepth = 8, MaxIoBytes = 16 * 1024 });
            s.Read(disk.Geometry.Sectors - 256, buf);
            Assert.Equal(8, s.IoCount);
        }
    }

    [Fact]
    public void GetIdAnswersTheSerial()
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        using var buf = new AlignedBuffer(512);
        int res = Submit(disk, IoUringSetupFlags.Sqe128, VirtioBlkUringCmdOp.Io, (uint)VirtioBlkRequestType.GetId, 0, buf.Pointer, VirtioBlkConstants.IdBytes);
        Assert.Equal(0, res);
        Assert.Equal("vbfile", System.Text.Encoding.ASCII.GetString(buf.Span[..VirtioBlkConstants.IdBytes]).TrimEnd('\0'));
    }

    [Fact]
    public void ARingWithoutSqe128IsRefusedWithEinval()
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        using var buf = new AlignedBuffer(4096);
        using IoUring ring = Rings.Create(2); // 64-byte SQEs: only 16 bytes of the 32-byte command fit
        using SafeFileDescriptor fd = SafeFileDescriptor.Open(disk.CharPath, Interop.Sys.O_RDONLY);
        VirtblkUringCmd cmd = new() { Type = (uint)VirtioBlkRequestType.In, Sector = 0, Data = (ulong)buf.Pointer, DataLen = 4096 };
        ReadOnlySpan<byte> first16 = MemoryMarshal.AsBytes(new ReadOnlySpan<VirtblkUringCmd>(in cmd))[..16];
        Sqe.PrepUringCmd(ring.GetSqeOrThrow(), ring.SqeSize, fd.Fd, (uint)VirtioBlkUringCmdOp.Io, first16, 1);
        Assert.Equal(-(int)Errno.EINVAL, Rings.SubmitOne(ring).Res);
    }

    [Fact]
    public void IoVecWithAFixedBufferIsRefusedByTheKernelAndBeforeSubmission()
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        Assert.Throws<IoRequestException>(() => SectorIoSession.Open(disk.CharPath,
            new SectorIoOptions { Path = IoPathKind.Passthrough, Vectored = true, FixedBuffer = true }));

        using var buf = new AlignedBuffer(8192);
        using IoUring ring = Rings.Create(4, IoUringSetupFlags.Sqe128);
        ring.RegisterBuffers(new[] { buf });
        using SafeFileDescriptor fd = SafeFileDescriptor.Open(disk.CharPath, Interop.Sys.O_RDONLY);
        var iov = (IoVec*)(buf.Pointer + 4096);
        iov[0] = new IoVec { Base = buf.Address, Length = 4096 };
        for (int i = 0; i < 3; i++) // repeated: a leaked request per refusal would show as a hang or a later failure
        {
            VirtioBlkCommand.Prep(ring.GetSqeOrThrow(), ring.SqeSize, fd.Fd, VirtioBlkRequestType.In, 0, iov, 1, vectored: true, fixedBufferIndex: 0, 10);
            Assert.Equal(-(int)Errno.EINVAL, Rings.SubmitOne(ring).Res);
        }
        VirtioBlkCommand.Prep(ring.GetSqeOrThrow(), ring.SqeSize, fd.Fd, VirtioBlkRequestType.In, 0, buf.Pointer, 4096, vectored: false, fixedBufferIndex: 0, 11);
        Assert.Equal(0, Rings.SubmitOne(ring).Res); // the ring still works afterwards
    }

    [Theory]
    [InlineData(2u)]   // VIRTIO_BLK_T_SCSI_CMD
    [InlineData(11u)]  // VIRTIO_BLK_T_DISCARD
    [InlineData(0x55u)]
    public void TypesOtherThanInOutFlushGetIdAreRefusedWithEopnotsupp(uint type)
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        using var buf = new AlignedBuffer(4096);
        Assert.Equal(-(int)Errno.EOPNOTSUPP, Submit(disk, IoUringSetupFlags.Sqe128, VirtioBlkUringCmdOp.Io, type, 0, buf.Pointer, 4096));
    }

    [Fact]
    public void AnUnknownCmdOpIsRefusedWithEnotty()
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        using var buf = new AlignedBuffer(4096);
        Assert.Equal(-(int)Errno.ENOTTY, Submit(disk, IoUringSetupFlags.Sqe128, (VirtioBlkUringCmdOp)9, 0, 0, buf.Pointer, 4096));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASectorPastTheEndIsRefusedWithEinvalPolledOrNot(bool poll)
    {
        // The virtio spec forbids the driver to send it: the kernel refuses it before the device sees it.
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        using var buf = new AlignedBuffer(4096);
        IoUringSetupFlags flags = IoUringSetupFlags.Sqe128 | (poll ? IoUringSetupFlags.IoPoll : 0);
        Assert.Equal(-(int)Errno.EINVAL,
            Submit(disk, flags, VirtioBlkUringCmdOp.Io, (uint)VirtioBlkRequestType.In, disk.Geometry.Sectors + 8, buf.Pointer, 4096));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AFailingSectorAnswersIoerrPolledOrNot(bool poll)
    {
        // vbfault: QEMU's blkdebug fails every read touching sectors 2048..2055; the status byte must survive polling.
        VirtioDisk disk = VirtioDisk.Require("vbfault");
        using var buf = new AlignedBuffer(4096);
        IoUringSetupFlags flags = IoUringSetupFlags.Sqe128 | (poll ? IoUringSetupFlags.IoPoll : 0);
        int res = Submit(disk, flags, VirtioBlkUringCmdOp.Io, (uint)VirtioBlkRequestType.In, 2048, buf.Pointer, 4096);
        Assert.Equal((int)VirtioBlkStatus.IoErr, res);
        var e = Assert.Throws<VirtioBlkStatusException>(() => VirtioBlkCommand.ThrowIfFailed(res, IoOperationKind.Read, "read", disk.CharPath));
        Assert.Equal(VirtioBlkStatus.IoErr, e.Status);
    }

    [Fact]
    public void ASectorAbove2TiBIsNotTruncatedTo32Bits()
    {
        // vbnull is 16 TiB (2^35 sectors): sector 2^32 + 8 is in range and reads; its end, 2^35, is refused. A kernel
        // that cut the sector to 32 bits would see sector 0 there and answer OK.
        VirtioDisk disk = VirtioDisk.Require("vbnull");
        using var buf = new AlignedBuffer(4096);
        Assert.True(disk.Geometry.Sectors > (1ul << 32) + 16, $"vbnull has {disk.Geometry.Sectors} sectors, not 16 TiB");
        Assert.Equal((int)VirtioBlkStatus.Ok,
            Submit(disk, IoUringSetupFlags.Sqe128, VirtioBlkUringCmdOp.Io, (uint)VirtioBlkRequestType.In, (1ul << 32) + 8, buf.Pointer, 4096));
        Assert.Equal(-(int)Errno.EINVAL,
            Submit(disk, IoUringSetupFlags.Sqe128, VirtioBlkUringCmdOp.Io, (uint)VirtioBlkRequestType.In, disk.Geometry.Sectors, buf.Pointer, 4096));
    }

    [Fact]
    public void WithoutCapSysAdminTheCommandIsRefusedWithEacces()
    {
        VirtioDisk disk = VirtioDisk.Require("vbfile");
        int res = int.MinValue;
        Exception? error = null;
        // Capabilities are per thread: this thread drops CAP_SYS_ADMIN from its effective set, submits, and ends.
        var t = new Thread(() =>
        {
            try
            {
                Capabilities.DropEffective(Capabilities.CapSysAdmin);
                using var buf = new AlignedBuffer(4096);
                res = Submit(disk, IoUringSetupFlags.Sqe128, VirtioBlkUringCmdOp.Io, (uint)VirtioBlkRequestType.In, 0, buf.Pointer, 4096);
            }
            catch (Exception e) { error = e; }
        });
        t.Start();
        t.Join();
        Assert.Null(error);
        Assert.Equal(-(int)Errno.EACCES, res);
    }

    [Fact]
    public void PolledBlockIoWithoutPollQueuesFailsWithEopnotsupp()
    {
        VirtioDisk.Require("vbfile"); // in the guest the virtio disks poll; a loop device there does not
        using LoopDevice loop = LoopDevice.Create(1 << 20);
        Assert.Equal(IoProblem.PollUnavailable,
            Assert.Throws<IoRequestException>(() => SectorIoSession.Open(loop.Path, new SectorIoOptions { Poll = true })).Problem);
    }

    private static int Submit(VirtioDisk disk, IoUringSetupFlags flags, VirtioBlkUringCmdOp op, uint type, ulong sector, void* data, uint len)
    {
        using IoUring ring = Rings.Create(2, flags);
        using SafeFileDescriptor fd = SafeFileDescriptor.Open(disk.CharPath, Interop.Sys.O_RDONLY);
        VirtblkUringCmd cmd = new() { Type = type, Sector = sector, Data = (ulong)data, DataLen = len };
        Sqe.PrepUringCmd(ring.GetSqeOrThrow(), ring.SqeSize, fd.Fd, (uint)op, MemoryMarshal.AsBytes(new ReadOnlySpan<VirtblkUringCmd>(in cmd)), 1);
        return Rings.SubmitOne(ring).Res;
    }

    private static byte[] Pattern(int length, int seed)
    {
        byte[] b = new byte[length];
        Rings.Fill(b, seed);
        return b;
    }

    /// <summary>Writes through <paramref name="options"/>, reads back the same way, then reads through the block device.</summary>
    private static void RoundTripThenCrossCheck(VirtioDisk disk, ulong sector, int length, SectorIoOptions options)
    {
        byte[] data = Pattern(length, (int)(sector % 1000) + length);
        using (var pt = SectorIoSession.Open(disk.CharPath, options))
        {
            pt.Write(sector, data);
            byte[] back = new byte[length];
            pt.Read(sector, back);
            Assert.True(data.AsSpan().SequenceEqual(back), "passthrough read differs from passthrough write");
        }
        byte[] viaBlock = new byte[length];
        using (var blk = SectorIoSession.Open(disk.BlockPath, new SectorIoOptions()))
        {
            blk.Read(sector, viaBlock);
        }
        Assert.True(data.AsSpan().SequenceEqual(viaBlock), "the block device disagrees with what passthrough wrote");
    }
}

/// <summary>The core's capset on the calling thread, for the tests that run a command without CAP_SYS_ADMIN.</summary>
internal static class Capabilities
{
    public const int CapSysAdmin = Interop.Sys.CapSysAdmin;

    public static void DropEffective(int cap) => Interop.Sys.DropEffectiveCapability(cap);
}
