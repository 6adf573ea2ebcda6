using System;
using System.Diagnostics;
using System.Threading;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Interop;
using VirtioBlk.Core.Io;
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

    /// <summary>The largest single I/O; a larger request is split (rounded down to whole logical blocks).</summary>
    public int MaxIoBytes { get; init; } = 128 * 1024;

    /// <summary>The largest single I/O that fits the disk on both paths and the caller's limit, for a transfer of <paramref name="length"/> bytes.</summary>
    public static int ChunkFor(DiskGeometry g, long length, int limit = 1 << 20)
    {
        long chunk = Math.Min(Math.Min(g.MaxUnsplitIoBytes, limit), Math.Max(length, g.LogicalBlockSize));
        return (int)Math.Max(g.LogicalBlockSize, chunk / g.LogicalBlockSize * g.LogicalBlockSize);
    }

    /// <summary>Open for writing.</summary>
    public bool Write { get; init; }

    /// <summary>
    /// O_EXCL on the block device: the open fails with EBUSY if the disk is mounted or claimed. On passthrough the
    /// char device has no such claim, so the session also holds an O_EXCL open of the disk's block device.
    /// </summary>
    public bool Exclusive { get; init; }

}

/// <summary>
/// Reads and writes whole sectors of one disk through one path, keeping several I/Os in flight. Owns its fd, ring
/// and staging memory; disposing it drains the ring before the memory is freed. Every rule a request must pass is
/// <see cref="IoRules"/>'s and every SQE is prepared by <see cref="IoShape"/>.
/// </summary>
public sealed unsafe class SectorIoSession : IDisposable
{
    private readonly SafeFileDescriptor _fd;
    private readonly SafeFileDescriptor? _claim; // O_EXCL hold on /dev/<disk> for an exclusive passthrough session
    private readonly IoUring _ring;
    private IoUring? _flushRing;                 // an interrupt-driven ring for FLUSH/FSYNC when _ring is polled
    private SafeFileDescriptor? _flushFd;        // the block device, for fsync where passthrough FLUSH is refused
    private readonly AlignedBuffer _staging;
    private readonly AlignedBuffer? _iovecs;
    private readonly IoShape _shape;
    private readonly int _chunk;
    private readonly int _depth;
    private readonly int[] _freeSlots;
    private readonly long[] _slotOffset; // byte offset into the caller's span, per slot
    private readonly int[] _slotLength;

    private readonly Action<string>? _log;

    private SectorIoSession(DiskIdentity disk, string devicePath, SectorIoOptions options, Action<string>? log)
    {
        _log = log;
        Disk = disk;
        DevicePath = devicePath;
        Geometry = disk.Geometry;
        Options = options;
        bool pt = options.Path == IoPathKind.Passthrough;
        IoRules.CheckMode(Geometry, options.Path, options.Vectored, options.FixedBuffer, options.Poll);
        IoRules.CheckRange(IoKnob.QueueDepth, options.QueueDepth, 1, IoRules.MaxQueueDepth, "The queue depth");
        IoRules.CheckRange(IoKnob.Length, options.MaxIoBytes, Geometry.LogicalBlockSize, IoRules.MaxBlockSize, "The largest single I/O");
        int lbs = Geometry.LogicalBlockSize;
        _chunk = options.MaxIoBytes / lbs * lbs;
        _depth = options.QueueDepth;
        long staging = IoRules.CheckBufferBytes(_chunk, _depth, 1, IoKnob.QueueDepth);
        _shape = new IoShape(options.Path, options.Vectored, options.FixedBuffer, registeredFile: false, lbs);

        int flags = (options.Write ? Sys.O_RDWR : Sys.O_RDONLY) | (pt ? 0 : Sys.O_DIRECT) | (options.Exclusive && !pt ? Sys.O_EXCL : 0);
        if (pt && options.Exclusive)
        {
            _claim = SafeFileDescriptor.Open(disk.BlockPath, Sys.O_RDONLY | Sys.O_EXCL);
        }
        try
        {
            _fd = SafeFileDescriptor.Open(devicePath, flags);
            log?.Invoke($"Opened {devicePath} {(options.Write ? "read-write" : "read-only")}{(pt ? "" : ", O_DIRECT")}{(options.Exclusive ? (pt ? $", holding {disk.BlockPath} with O_EXCL" : ", O_EXCL") : "")}.");
        }
        catch
        {
            _claim?.Dispose();
            throw;
        }
        try
        {
            _ring = new IoUring(new IoUringOptions { Entries = (uint)_depth, Flags = _shape.RingFlags | (options.Poll ? IoUringSetupFlags.IoPoll : 0) });
            log?.Invoke($"Ring: {_ring.SqEntries} SQ / {_ring.CqEntries} CQ entries of {_ring.SqeSize}/{_ring.CqeSize} bytes, flags {_ring.SetupFlags}, features {IoUringFlagText.Describe(_ring.Features)}.");
            _staging = new AlignedBuffer((int)staging);
            if (options.Vectored)
            {
                _iovecs = new AlignedBuffer(_depth * IoShape.MaxIovecs * sizeof(IoVec));
            }
            if (options.FixedBuffer)
            {
                _ring.RegisterBuffers(new[] { _staging });
                log?.Invoke($"Registered one {staging}-byte buffer (index 0).");
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

    /// <summary>What the opened path is.</summary>
    public DiskIdentity Disk { get; }

    public string DevicePath { get; }

    public DiskGeometry Geometry { get; }

    public SectorIoOptions Options { get; }

    /// <summary>The size of each I/O the session issues (the last of a transfer may be smaller).</summary>
    public int ChunkBytes => _chunk;

    /// <summary>I/Os issued so far (for tests and statistics).</summary>
    public long IoCount { get; private set; }

    /// <summary>
    /// Opens <paramref name="devicePath"/>: a block device for the block path, a virtio-blk char device for
    /// passthrough. Refuses (before opening anything) a node that does not carry the path and any mode the disk
    /// or kernel cannot do.
    /// </summary>
    public static SectorIoSession Open(string devicePath, SectorIoOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        DiskIdentity disk = DiskIdentity.Resolve(devicePath);
        IoRules.CheckNode(disk, options.Path);
        if (options.Write)
        {
            IoRules.CheckWritable(disk.Geometry);
        }
        return new SectorIoSession(disk, devicePath, options, log);
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

    /// <summary>How the last <see cref="Flush"/> made the data durable: "VIRTIO_BLK_T_FLUSH" or "fsync of /dev/X".</summary>
    public string? FlushedBy { get; private set; }

    /// <summary>
    /// Makes written data durable: VIRTIO_BLK_T_FLUSH on passthrough, fsync on the block path. Where the kernel
    /// refuses a passthrough FLUSH (the OpenAnolis variant answers EOPNOTSUPP; a device without
    /// VIRTIO_BLK_F_FLUSH answers UNSUPP) the disk's block device is fsync'ed instead, and the refusal is
    /// remembered for the device, so later sessions go straight to fsync.
    /// </summary>
    public void Flush()
    {
        // A polled ring accepts only pollable reads and writes, so a polled session flushes through a second,
        // interrupt-driven ring, made once and kept.
        if (Options.Poll && _flushRing is null)
        {
            _flushRing = new IoUring(new IoUringOptions { Entries = 2, Flags = _shape.RingFlags });
            _log?.Invoke("Flushing through a second, interrupt-driven ring: a polled ring takes only reads and writes.");
        }
        IoUring ring = _flushRing ?? _ring;
        bool pt = Options.Path == IoPathKind.Passthrough;
        if (pt && PassthroughSupport.IsRefused(DevicePath, VirtioBlkRequestType.Flush))
        {
            _log?.Invoke($"The kernel refused the passthrough FLUSH on {DevicePath} earlier in this process; making the data durable with fsync of {Disk.BlockPath} instead.");
        }
        else if (pt)
        {
            VirtioBlkCommand.Prep(ring.GetSqeOrThrow(), ring.SqeSize, _fd.Fd, VirtioBlkRequestType.Flush, 0, null, 0, false, -1, 1);
            ring.SubmitAndWait(1);
            IoUringException? failure = VirtioBlkCommand.Failure(ring.WaitCompletion().Res, IoOperationKind.Flush, "FLUSH", DevicePath);
            if (failure is null)
            {
                FlushedBy = "VIRTIO_BLK_T_FLUSH";
                return;
            }
            if (failure.Errno != Errno.EOPNOTSUPP)
            {
                throw failure;
            }
            PassthroughSupport.Refused(DevicePath, VirtioBlkRequestType.Flush);
            _log?.Invoke($"The kernel refused the passthrough FLUSH ({failure.Message}); making the data durable with fsync of {Disk.BlockPath} instead.");
        }

        SafeFileDescriptor target = _fd;
        if (pt)
        {
            // fsync of the disk's block device flushes the same device cache; read-only is enough for fsync.
            _flushFd ??= SafeFileDescriptor.Open(Disk.BlockPath, Sys.O_RDONLY);
            target = _flushFd;
        }
        Sqe.PrepFsync(ring.GetSqeOrThrow(), target.Fd, dataSync: false, 1);
        ring.SubmitAndWait(1);
        ErrnoText.ThrowIfNegative(ring.WaitCompletion().Res, IoOperationKind.Flush, "FSYNC", pt ? Disk.BlockPath : DevicePath);
        FlushedBy = $"fsync of {(pt ? Disk.BlockPath : DevicePath)}";
    }

    private void Transfer(ulong sector, Span<byte> data, bool write, Action<long>? progress, CancellationToken cancel)
    {
        IoRules.CheckDataLength(Geometry, data.Length); // reads too: whole logical blocks, within the per-call limit
        IoRules.CheckSectorRange(Geometry, sector, (ulong)data.Length / IoRules.SectorSize, IoKnob.Length);
        fixed (byte* user = data)
        {
            long total = data.Length;
            long next = 0;      // next byte offset to issue
            long done = 0;      // bytes completed
            int free = _depth;
            for (int i = 0; i < _depth; i++) _freeSlots[i] = i;
            IoUringException? failure = null;
            long lastProgress = Stopwatch.GetTimestamp();
            ulong baseOffset = sector * IoRules.SectorSize;

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
                    IoVec* iov = _iovecs is null ? null : (IoVec*)_iovecs.Pointer + slot * IoShape.MaxIovecs;
                    _shape.Prepare(_ring.GetSqeOrThrow(), _ring.SqeSize, _fd.Fd, write, stage, len, baseOffset + (ulong)next, iov, (ulong)slot);
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
                    if (failure is null && _shape.Failure(cqe.Res, len, write, DevicePath) is IoUringException failed)
                    {
                        // The first failed I/O is the one reported: which sectors, which disk, which path.
                        failure = failed.AtSectors((baseOffset + (ulong)_slotOffset[slot]) / IoRules.SectorSize, (ulong)len / IoRules.SectorSize,
                            Disk.Disk, Options.Path == IoPathKind.Passthrough ? $"the passthrough char device {DevicePath}" : $"the block device {DevicePath}");
                    }
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
            if (failure is not null) throw DiskRemoval.Classify(failure, Disk.Disk, DevicePath); // a removed disk says so
            cancel.ThrowIfCancellationRequested();
            progress?.Invoke(done);
        }
    }

    public void Dispose()
    {
        // The rings drain first: nothing below is freed while the kernel may still write to it. A ring that could
        // not confirm its drain leaves its I/O memory leaked (and counted in NativeMemoryLeaks), never freed.
        _flushRing?.Dispose();
        _ring.Dispose();
        if (_ring.KernelMayOwnMemory || _flushRing?.KernelMayOwnMemory == true)
        {
            _staging.Leak();
            _iovecs?.Leak();
        }
        _staging.Dispose();
        _iovecs?.Dispose();
        _fd.Dispose();
        _flushFd?.Dispose();
        _claim?.Dispose();
    }
}
