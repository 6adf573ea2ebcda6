using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Uring;

namespace VirtioBlk.Core.Io;

/// <summary>
/// How data I/O is issued — path, vectored, registered buffer, registered file — and the one place that turns
/// "read or write this buffer at this offset" into an SQE, splits a buffer into iovecs and judges a completion.
/// The sector-I/O session and the benchmark worker both prepare every I/O here, so the two cannot diverge.
/// </summary>
public readonly unsafe struct IoShape
{
    /// <summary>iovecs per vectored I/O at most (fewer when the I/O has fewer logical blocks).</summary>
    public const int MaxIovecs = 4;

    public IoShape(IoPathKind path, bool vectored, bool fixedBuffer, bool registeredFile, int logicalBlockSize)
    {
        if (logicalBlockSize < IoRules.SectorSize || (logicalBlockSize & (logicalBlockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(logicalBlockSize), logicalBlockSize, "The logical block size must be a power of two of at least 512.");
        }

        Path = path;
        Vectored = vectored;
        FixedBuffer = fixedBuffer;
        RegisteredFile = registeredFile;
        LogicalBlockSize = logicalBlockSize;
        // Everything about the SQE that does not change per I/O is decided here, once, so that Prepare's common case
        // is a handful of stores the JIT inlines into the loop that calls it.
        _readOp = (byte)BlockOp(vectored, fixedBuffer, write: false);
        _writeOp = (byte)BlockOp(vectored, fixedBuffer, write: true);
        _sqeFlags = registeredFile ? (byte)IoSqeFlags.FixedFile : (byte)0;
        _plainBlock = path != IoPathKind.Passthrough && !vectored;
        _plainCommand = path == IoPathKind.Passthrough && !vectored;
    }

    private readonly byte _readOp, _writeOp, _sqeFlags;
    private readonly bool _plainBlock;   // a block-device read/write of one buffer: the inlined case of Prepare
    private readonly bool _plainCommand; // a passthrough IO command on one buffer: the other inlined case

    public IoPathKind Path { get; }

    public bool Vectored { get; }

    public bool FixedBuffer { get; }

    /// <summary>The fd in the SQE is an index into the ring's registered files (IOSQE_FIXED_FILE).</summary>
    public bool RegisteredFile { get; }

    /// <summary>The unit iovec pieces are cut on.</summary>
    public int LogicalBlockSize { get; }

    /// <summary>The SQE size the ring must have: passthrough commands need 128-byte SQEs.</summary>
    public IoUringSetupFlags RingFlags => Path == IoPathKind.Passthrough ? IoUringSetupFlags.Sqe128 : IoUringSetupFlags.None;

    /// <summary>
    /// Fills <paramref name="sqe"/> for one read or write of <paramref name="length"/> bytes at
    /// <paramref name="buffer"/> from disk byte <paramref name="byteOffset"/>. For vectored I/O,
    /// <paramref name="iovecs"/> is this I/O's own room for <see cref="MaxIovecs"/> entries. A registered buffer is
    /// index 0. Passthrough sectors are 512-byte units whatever the logical block size.
    /// </summary>
    /// <remarks>
    /// A plain block-device read or write (no iovecs) is filled right here, small enough to be inlined into the
    /// caller's loop, and so is a passthrough command on one buffer; vectored I/O goes to <see cref="PrepareVectored"/>.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prepare(IoUringSqe* sqe, int sqeSize, int fd, bool write, byte* buffer, int length, ulong byteOffset, IoVec* iovecs, ulong userData)
    {
        if (IsPlain)
        {
            if (_plainCommand && sqeSize != 128) ThrowNeedsSqe128(sqeSize);
            PreparePlain(sqe, fd, write, buffer, length, byteOffset, userData);
            return;
        }

        PrepareVectored(sqe, sqeSize, fd, write, buffer, length, byteOffset, iovecs, userData);
    }

    /// <summary>True for a shape without iovecs, on either path: <see cref="Prepare"/> then needs no call (see <see cref="PreparePlain"/>).</summary>
    internal bool IsPlain => _plainBlock | _plainCommand;

    /// <summary>
    /// <see cref="Prepare"/>'s case for a shape that <see cref="IsPlain"/>: for a loop that checked that once and must
    /// not have a call in it (a call on any path costs the loop its registers). A passthrough shape's ring has
    /// 128-byte SQEs (<see cref="RingFlags"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void PreparePlain(IoUringSqe* sqe, int fd, bool write, byte* buffer, int length, ulong byteOffset, ulong userData)
    {
        Debug.Assert(IsPlain);
        if (_plainCommand)
        {
            // Sectors are 512-byte units whatever the logical block size; buf_index 0 is the one registered buffer.
            Sqe.PrepVirtioBlkCmd128(sqe, _sqeFlags, fd, (uint)VirtioBlkUringCmdOp.Io, FixedBuffer,
                (uint)(write ? VirtioBlkRequestType.Out : VirtioBlkRequestType.In), byteOffset >> VirtioBlkConstants.SectorShift,
                (ulong)buffer, (uint)length, userData);
            return;
        }

        // IOSQE_FIXED_FILE or 0; buf_index 0 is the one registered buffer (PrepRw clears it).
        Sqe.PrepRwWithFlags(sqe, (IoUringOp)(write ? _writeOp : _readOp), _sqeFlags, fd, (ulong)buffer, (uint)length, byteOffset, userData);
    }

    /// <summary>
    /// Bytes a template made by <see cref="PreparePlainTemplate"/> takes: the ring's SQE size, 128 for a passthrough
    /// shape (<see cref="RingFlags"/>), else 64.
    /// </summary>
    internal int PlainTemplateSize => _plainCommand ? 128 : 64;

    /// <summary>
    /// A plain I/O's SQE with everything but its buffer, offset and user data, made once by <see cref="PreparePlain"/>
    /// itself, so that a loop can write each SQE as a copy and three stores (<see cref="PreparePlainFromTemplate"/>).
    /// <paramref name="template"/> holds <see cref="PlainTemplateSize"/> bytes.
    /// </summary>
    internal void PreparePlainTemplate(byte* template, int fd, bool write, int length)
        => PreparePlain((IoUringSqe*)template, fd, write, null, length, 0, 0);

    /// <summary>
    /// What <see cref="PreparePlain"/> writes, from a template of this shape (<see cref="PreparePlainTemplate"/>, same fd,
    /// direction and length): a copy of constant size and the three per-I/O fields. <paramref name="command"/> must be
    /// this shape's path (a constant in the caller's compiled loop, so the copy's size is one too); a test compares the
    /// two byte for byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PreparePlainFromTemplate(IoUringSqe* sqe, byte* template, bool command, byte* buffer, ulong byteOffset, ulong userData)
    {
        if (command)
        {
            Unsafe.CopyBlockUnaligned(sqe, template, 128);
            Sqe.PatchVirtioBlkCmd128(sqe, byteOffset >> VirtioBlkConstants.SectorShift, (ulong)buffer, userData);
        }
        else
        {
            Unsafe.CopyBlockUnaligned(sqe, template, 64);
            Sqe.PatchRw(sqe, (ulong)buffer, byteOffset, userData);
        }
    }

    /// <summary>Whether a plain shape is a passthrough command (128-byte SQE) rather than a block read or write.</summary>
    internal bool PlainCommand => _plainCommand;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNeedsSqe128(int sqeSize) => throw new ArgumentException(
        $"A passthrough command needs a ring with 128-byte SQEs (IORING_SETUP_SQE128, see RingFlags); this ring's are {sqeSize} bytes.", nameof(sqeSize));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PrepareVectored(IoUringSqe* sqe, int sqeSize, int fd, bool write, byte* buffer, int length, ulong byteOffset, IoVec* iovecs, ulong userData)
    {
        Debug.Assert(Vectored);
        uint dataLength = (uint)Split(buffer, length, LogicalBlockSize, iovecs);
        void* data = iovecs;

        if (Path == IoPathKind.Passthrough)
        {
            VirtioBlkCommand.Prep(sqe, sqeSize, fd, write ? VirtioBlkRequestType.Out : VirtioBlkRequestType.In,
                byteOffset >> VirtioBlkConstants.SectorShift, data, dataLength, Vectored, FixedBuffer ? 0 : -1, userData);
        }
        else
        {
            Sqe.PrepRw(sqe, BlockOp(Vectored, FixedBuffer, write), fd, (ulong)data, dataLength, byteOffset, userData);
            // buf_index 0: the one registered buffer (PrepRw cleared it).
        }

        if (RegisteredFile)
        {
            Sqe.SetFixedFile(sqe);
        }
    }

    private static IoUringOp BlockOp(bool vectored, bool fixedBuffer, bool write) => (vectored, fixedBuffer, write) switch
    {
        (true, true, false) => IoUringOp.ReadvFixed,
        (true, true, true) => IoUringOp.WritevFixed,
        (true, false, false) => IoUringOp.Readv,
        (true, false, true) => IoUringOp.Writev,
        (false, true, false) => IoUringOp.ReadFixed,
        (false, true, true) => IoUringOp.WriteFixed,
        (false, false, false) => IoUringOp.Read,
        _ => IoUringOp.Write,
    };

    /// <summary>
    /// The one iovec splitter: up to <see cref="MaxIovecs"/> contiguous pieces, each a whole number of
    /// <paramref name="unit"/>-byte blocks (as O_DIRECT and the virtio spec need), sizes as even as the blocks allow.
    /// Returns the number of pieces.
    /// </summary>
    public static int Split(byte* buffer, int length, int unit, IoVec* iovecs)
    {
        int blocks = length / unit;
        int pieces = Math.Clamp(blocks, 1, MaxIovecs);
        int offset = 0;
        for (int i = 0; i < pieces; i++)
        {
            int pieceBytes = i == pieces - 1 ? length - offset : (blocks / pieces + (i < blocks % pieces ? 1 : 0)) * unit;
            iovecs[i] = new IoVec { Base = (nint)(buffer + offset), Length = (nuint)pieceBytes };
            offset += pieceBytes;
        }

        return pieces;
    }

    /// <summary>Whether a completion of an I/O of <paramref name="expected"/> bytes succeeded in full (the hot-path test).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Succeeded(int res, int expected) => res == SuccessResult(expected);

    /// <summary>The one cqe->res that <see cref="Succeeded"/> accepts for an I/O of <paramref name="expected"/> bytes: 0 for a passthrough command, else the byte count. For a loop that compares once per CQE.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int SuccessResult(int expected) => Path == IoPathKind.Passthrough ? 0 : expected;

    /// <summary>The failure a completion stands for, or null when it succeeded (see <see cref="VirtioBlkCommand.Decode"/>).</summary>
    public IoUringException? Failure(int res, int expected, bool write, string path)
    {
        if (Succeeded(res, expected))
        {
            return null;
        }

        IoOperationKind kind = write ? IoOperationKind.Write : IoOperationKind.Read;
        string op = OperationName(write);
        if (Path == IoPathKind.Passthrough)
        {
            return VirtioBlkCommand.Failure(res, kind, op, path);
        }

        return res < 0
            ? new IoUringException((Errno)(-res), kind, op, path: path)
            : new IoUringException(Errno.EIO, kind, op, $"Short transfer: {res} of {expected} bytes.", path);
    }

    /// <summary>
    /// Whether a failed completion says the device is gone (ENODEV or ENXIO, in whichever form the path reports it):
    /// a disk being removed fails new I/O so. Nothing more can be measured on it, and on a polled ring the I/O still
    /// in flight is only polled (so the removal, which waits for it, only finishes) once no new failure keeps the CQ
    /// non-empty: io_uring does not enter its polling loop while CQEs are pending.
    /// </summary>
    public bool IsNoDevice(int res)
    {
        Errno errno = Path == IoPathKind.Passthrough ? VirtioBlkCommand.Decode(res).Errno : res < 0 ? (Errno)(-res) : Errno.None;
        return errno is Errno.ENODEV or Errno.ENXIO;
    }

    /// <summary>A completion's result for people: "EIO (5): Input/output error", "VIRTIO_BLK_S_IOERR", "short transfer of 512 bytes".</summary>
    public static string DescribeResult(IoPathKind path, int res)
    {
        if (path == IoPathKind.Passthrough)
        {
            (Errno errno, VirtioBlkStatus? status) = VirtioBlkCommand.Decode(res);
            return status is VirtioBlkStatus s ? VirtioBlkCommand.StatusName(s) : ErrnoText.Describe(errno);
        }

        return res < 0 ? ErrnoText.Describe((Errno)(-res)) : $"short transfer of {res} bytes";
    }

    /// <summary>The operation's name for people: "READ_FIXED", "URING_CMD IO_VEC write".</summary>
    public string OperationName(bool write) => (Path, Vectored, FixedBuffer, write) switch
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
}
