using System;
using System.Diagnostics;
using System.Threading;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Interop;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;

namespace VirtioBlk.Core.Devices;

/// <summary>Which kernel interface carries the I/O.</summary>
public enum IoPathKind
{
    /// <summary>The block device (/dev/vdX) with O_DIRECT: READ/WRITE, READV/WRITEV, READ_FIXED/WRITE_FIXED.</summary>
    Block,

    /// <summary>The virtio-blk char device (/dev/vdXc0): URING_CMD on a 128-byte-SQE ring.</summary>
    Passthrough,
}

/// <summary>How a <see cref="SectorIoSession"/> issues its I/O.</summary>
public sealed record SectorIoOptions
{
    public IoPathKind Path { get; init; } = IoPathKind.Block;

    /// <summary>READV/WRITEV on the block path, VIRTBLK_URING_CMD_IO_VEC on passthrough, with several iovecs per I/O.</summary>
    public bool Vectored { get; init; }

    /// <summary>An IORING_SETUP_IOPOLL ring (the disk needs poll queues).</summary>
    public bool Poll { get; init; }

    /// <summary>A registered buffer (READ_FIXED / WRITE_FIXED, or IORING_URING_CMD_FIXED).</summary>
    public bool FixedBuffer { get; init; }

    /// <summary>I/Os kept in flight.</summary>
    public int QueueDepth { get; init; } = 8;

    /// <summary>The largest single I/O; a larger request is split.</summary>
    public int MaxIoBytes { get; init; } = 128 * 1024;

    /// <summary>Open for writing.</summary>
    public bool Write { get; init; }

    /// <summary>
    /// O_EXCL on the block device: the open fails with EBUSY if the disk is mounted or claimed. On passthrough the
    /// char device has no such claim, so the session also holds an O_EXCL open of the disk's block device.
    /// </summary>
    public bool Exclusive { get; init; }

    /// <summary>iovecs per vectored I/O (at most; fewer when the I/O is small).</summary>
    public const int IovecsPerIo = 4;
}

/// <summary>
/// Reads and writes whole sectors of one disk through one path, keeping several I/Os in flight. Owns its fd, ring
/// and staging memory; disposing it drains the ring before the memory is freed.
/// </summary>
public sealed unsafe class SectorIoSession : IDisposable
{
    private readonly SafeFileDescriptor _fd;
    private readonly SafeFileDescriptor? _claim; // O_EXCL hold on /dev/<disk> for an exclusive passthrough session
    private readonly IoUring _ring;
    private readonly AlignedBuffer _staging;
    private readonly AlignedBuffer? _iovecs;
    private readonly int _chunk;
    private readonly int _depth;
    private readonly int[] _freeSlots;
    private readonly long[] _slotOffset; // byte offset into the caller's span, per slot
    private readonly int[] _slotLength;

    private SectorIoSession(string devicePath, DiskGeometry geometry, SectorIoOptions options)
    {
        DevicePath = devicePath;
        Geometry = geometry;
        Options = options;
        bool pt = options.Path == IoPathKind.Passthrough;
        if (pt && options.Vectored && options.FixedBuffer)
        {
            throw new ArgumentException(
                "Passthrough cannot combine -Vectored with -FixedBuffer: the kernel refuses VIRTBLK_URING_CMD_IO_VEC on a registered buffer.");
        }
        if (options.QueueDepth < 1 || options.QueueDepth > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.QueueDepth, "QueueDepth must be between 1 and 4096.");
        }
        int lbs = geometry.LogicalBlockSize;
        _chunk = Math.Max(lbs, options.MaxIoBytes / lbs * lbs);
        _depth = options.QueueDepth;

        int flags = (options.Write ? Sys.O_RDWR : Sys.O_RDONLY) | (pt ? 0 : Sys.O_DIRECT) | (options.Exclusive && !pt ? Sys.O_EXCL : 0);
        if (pt && options.Exclusive)
        {
            _claim = SafeFileDescriptor.Open("/dev/" + geometry.Name, Sys.O_RDONLY | Sys.O_EXCL);
        }
        try
        {
            _fd = SafeFileDescriptor.Open(devicePath, flags);
        }
        catch
        {
            _claim?.Dispose();
            throw;
        }
        try
        {
            IoUringSetupFlags ringFlags = (pt ? IoUringSetupFlags.Sqe128 : 0) | (options.Poll ? IoUringSetupFlags.IoPoll : 0);
            _ring = new IoUring(new IoUringOptions { Entries = (uint)_depth, Flags = ringFlags });
            _staging = new AlignedBuffer(_chunk * _depth);
            if (options.Vectored)
            {
                _iovecs = new AlignedBuffer(_depth * SectorIoOptions.IovecsPerIo * sizeof(IoVec));
            }
            if (options.Vectored && options.FixedBuffer && !pt && !IoUringKernel.IsSupported(IoUringOp.ReadvFixed))
            {
                throw new IoUringException(Errno.EOPNOTSUPP, IoOperationKind.Read, "READV_FIXED",
                    "Vectored I/O on a registered buffer needs IORING_OP_READV_FIXED (Linux 6.15); this kernel lacks it. Drop -Vectored or -FixedBuffer.");
            }
            if (options.FixedBuffer)
            {
                _ring.RegisterBuffers(new[] { _staging });
            }
        }
        catch
        {
            _ring?.Dispose();
            _staging?.Dispose();
            _iovecs?.Dispose();
            _fd.Dispose();
            _claim?.Dispose();
            throw;
        }
        _freeSlots = new int[_depth];
        _slotOffset = new long[_depth];
        _slotLength = new int[_depth];
    }

    public string DevicePath { get; }

    public DiskGeometry Geometry { get; }

    public SectorIoOptions Options { get; }

    /// <summary>I/Os issued so far (for tests and statistics).</summary>
    public long IoCount { get; private set; }

    /// <summary>Opens <paramref name="devicePath"/> (a block device, or a virtio-blk char device for passthrough).</summary>
    public static SectorIoSession Open(string devicePath, SectorIoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        DiskGeometry geometry = DiskGeometry.FromSysfs(DiskGeometry.DiskNameOf(devicePath));
        DeviceNodeKind kind = DeviceNodeInfo.Stat(devicePath).Kind;
        if (options.Path == IoPathKind.Passthrough && kind != DeviceNodeKind.CharacterDevice)
        {
            throw new ArgumentException($"Passthrough needs the disk's char device (<disk>c0), not {devicePath}.", nameof(devicePath));
        }
        if (options.Path == IoPathKind.Block && kind != DeviceNodeKind.BlockDevice)
        {
            throw new ArgumentException($"The block path needs a block device, not {devicePath}.", nameof(devicePath));
        }
        return new SectorIoSession(devicePath, geometry, options);
    }

    /// <summary>Reads <c>destination.Length</c> bytes starting at 512-byte <paramref name="sector"/>.</summary>
    public void Read(ulong sector, Span<byte> destination, Action<long>? progress = null, CancellationToken cancel = default)
        => Transfer(sector, destination, write: false, progress, cancel);

    /// <summary>Writes <paramref name="source"/> starting at 512-byte <paramref name="sector"/>.</summary>
    public void Write(ulong sector, ReadOnlySpan<byte> source, Action<long>? progress = null, CancellationToken cancel = default)
    {
        fixed (byte* p = source)
        {
            Transfer(sector, new Span<byte>(p, source.Length), write: true, progress, cancel);
        }
    }

    /// <summary>Makes written data durable: VIRTIO_BLK_T_FLUSH on passthrough, fsync on the block path.</summary>
    public void Flush()
    {
        // A polled ring accepts only pollable reads and writes, so the flush goes through its own interrupt-driven ring.
        bool pt = Options.Path == IoPathKind.Passthrough;
        using var ring = new IoUring(new IoUringOptions { Entries = 2, Flags = pt ? IoUringSetupFlags.Sqe128 : 0 });
        IoUringSqe* sqe = ring.GetSqeOrThrow();
        if (pt)
        {
            VirtioBlkCommand.Prep(sqe, ring.SqeSize, _fd.Fd, VirtioBlkRequestType.Flush, 0, null, 0, false, -1, 1);
        }
        else
        {
            Sqe.PrepFsync(sqe, _fd.Fd, dataSync: false, 1);
        }
        ring.SubmitAndWait(1);
        IoUringCqe cqe = ring.WaitCompletion();
        if (pt) VirtioBlkCommand.ThrowIfFailed(cqe.Res, IoOperationKind.Flush, "FLUSH", DevicePath);
        else ErrnoText.ThrowIfNegative(cqe.Res, IoOperationKind.Flush, "FSYNC", DevicePath);
    }

    private void ValidateRange(ulong sector, long length)
    {
        int lbs = Geometry.LogicalBlockSize;
        int sectorsPerBlock = lbs / 512;
        if (length <= 0 || length % lbs != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"The length must be a positive multiple of the logical block size ({lbs} bytes).");
        }
        if (sector % (ulong)sectorsPerBlock != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(sector), sector, $"The sector must be a multiple of {sectorsPerBlock} (the logical block size in 512-byte sectors).");
        }
        ulong end = sector * 512 + (ulong)length;
        if (end > Geometry.SizeBytes || end < sector * 512)
        {
            throw new ArgumentOutOfRangeException(nameof(sector), sector, $"Sectors {sector}..{sector + (ulong)length / 512 - 1} run past the end of the disk ({Geometry.Sectors} sectors).");
        }
    }

    private void Transfer(ulong sector, Span<byte> data, bool write, Action<long>? progress, CancellationToken cancel)
    {
        ValidateRange(sector, data.Length);
        fixed (byte* user = data)
        {
            long total = data.Length;
            long next = 0;      // next byte offset to issue
            long done = 0;      // bytes completed
            int free = _depth;
            for (int i = 0; i < _depth; i++) _freeSlots[i] = i;
            IoUringException? failure = null;
            long lastProgress = Stopwatch.GetTimestamp();

            while (done < total && failure is null || _ring.InFlight > 0)
            {
                while (failure is null && free > 0 && next < total && !cancel.IsCancellationRequested)
                {
                    int slot = _freeSlots[--free];
                    int len = (int)Math.Min(_chunk, total - next);
                    _slotOffset[slot] = next;
                    _slotLength[slot] = len;
                    byte* stage = _staging.Pointer + (long)slot * _chunk;
                    if (write) new Span<byte>(user + next, len).CopyTo(new Span<byte>(stage, len));
                    Prepare(_ring.GetSqeOrThrow(), slot, stage, len, sector * 512 + (ulong)next, write);
                    next += len;
                }
                if (_ring.InFlight == 0 && _ring.Unsubmitted == 0)
                {
                    break; // cancelled or failed with nothing outstanding
                }
                _ring.SubmitAndWait(1);
                while (_ring.TryPeekCompletion(out IoUringCqe cqe))
                {
                    int slot = (int)cqe.UserData;
                    int len = _slotLength[slot];
                    failure ??= CheckCompletion(cqe.Res, len, write);
                    if (failure is null && !write)
                    {
                        new Span<byte>(_staging.Pointer + (long)slot * _chunk, len).CopyTo(new Span<byte>(user + _slotOffset[slot], len));
                    }
                    done += len;
                    _freeSlots[free++] = slot;
                    IoCount++;
                }
                if (progress is not null && Stopwatch.GetElapsedTime(lastProgress).TotalMilliseconds >= 250)
                {
                    progress(done);
                    lastProgress = Stopwatch.GetTimestamp();
                }
            }
            if (failure is not null) throw failure;
            cancel.ThrowIfCancellationRequested();
            progress?.Invoke(done);
        }
    }

    private IoUringException? CheckCompletion(int res, int expected, bool write)
    {
        string op = OperationName(write);
        IoOperationKind kind = write ? IoOperationKind.Write : IoOperationKind.Read;
        if (Options.Path == IoPathKind.Passthrough)
        {
            if (res == 0) return null;
            return res < 0
                ? new IoUringException((Errno)(-res), kind, op, path: DevicePath)
                : new VirtioBlkStatusException((VirtioBlkStatus)res, kind, op, DevicePath);
        }
        if (res < 0) return new IoUringException((Errno)(-res), kind, op, path: DevicePath);
        if (res != expected) return new IoUringException(Errno.EIO, kind, op, $"Short transfer: {res} of {expected} bytes.", DevicePath);
        return null;
    }

    private string OperationName(bool write) => (Options.Path, Options.Vectored, Options.FixedBuffer, write) switch
    {
        (IoPathKind.Passthrough, true, _, false) => "URING_CMD IO_VEC read",
        (IoPathKind.Passthrough, true, _, true) => "URING_CMD IO_VEC write",
        (IoPathKind.Passthrough, false, _, false) => "URING_CMD IO read",
        (IoPathKind.Passthrough, false, _, true) => "URING_CMD IO write",
        (_, true, true, false) => "READV_FIXED",
        (_, true, true, true) => "WRITEV_FIXED",
        (_, true, false, false) => "READV",
        (_, true, false, true) => "WRITEV",
        (_, false, true, false) => "READ_FIXED",
        (_, false, true, true) => "WRITE_FIXED",
        (_, false, false, false) => "READ",
        (_, false, false, true) => "WRITE",
    };

    private void Prepare(IoUringSqe* sqe, int slot, byte* stage, int len, ulong byteOffset, bool write)
    {
        void* data = stage;
        uint dataLen = (uint)len;
        if (Options.Vectored)
        {
            // Split the I/O into up to IovecsPerIo logical-block-aligned pieces.
            var iov = (IoVec*)_iovecs!.Pointer + slot * SectorIoOptions.IovecsPerIo;
            int lbs = Geometry.LogicalBlockSize;
            int blocks = len / lbs;
            int pieces = Math.Min(SectorIoOptions.IovecsPerIo, blocks);
            int offset = 0;
            for (int i = 0; i < pieces; i++)
            {
                int pieceBlocks = blocks / pieces + (i < blocks % pieces ? 1 : 0);
                iov[i] = new IoVec { Base = (nint)(stage + offset), Length = (nuint)(pieceBlocks * lbs) };
                offset += pieceBlocks * lbs;
            }
            data = iov;
            dataLen = (uint)pieces;
        }
        ulong userData = (ulong)slot;
        if (Options.Path == IoPathKind.Passthrough)
        {
            VirtioBlkCommand.Prep(sqe, _ring.SqeSize, _fd.Fd, write ? VirtioBlkRequestType.Out : VirtioBlkRequestType.In,
                byteOffset / 512, data, dataLen, Options.Vectored, Options.FixedBuffer ? 0 : -1, userData);
        }
        else if (Options.Vectored && Options.FixedBuffer)
        {
            if (write) Sqe.PrepWritevFixed(sqe, _fd.Fd, (IoVec*)data, dataLen, byteOffset, 0, userData);
            else Sqe.PrepReadvFixed(sqe, _fd.Fd, (IoVec*)data, dataLen, byteOffset, 0, userData);
        }
        else if (Options.Vectored)
        {
            if (write) Sqe.PrepWritev(sqe, _fd.Fd, (IoVec*)data, dataLen, byteOffset, userData);
            else Sqe.PrepReadv(sqe, _fd.Fd, (IoVec*)data, dataLen, byteOffset, userData);
        }
        else if (Options.FixedBuffer)
        {
            if (write) Sqe.PrepWriteFixed(sqe, _fd.Fd, data, dataLen, byteOffset, 0, userData);
            else Sqe.PrepReadFixed(sqe, _fd.Fd, data, dataLen, byteOffset, 0, userData);
        }
        else
        {
            if (write) Sqe.PrepWrite(sqe, _fd.Fd, data, dataLen, byteOffset, userData);
            else Sqe.PrepRead(sqe, _fd.Fd, data, dataLen, byteOffset, userData);
        }
    }

    public void Dispose()
    {
        // The ring drains first: nothing below is freed while the kernel may still write to it.
        _ring.Dispose();
        _staging.Dispose();
        _iovecs?.Dispose();
        _fd.Dispose();
        _claim?.Dispose();
    }
}
