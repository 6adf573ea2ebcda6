using System;
using System.Runtime.InteropServices;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Uring;

namespace VirtioBlk.Core.Devices;

/// <summary>Fills URING_CMD SQEs for the virtio-blk char device: a thin layer over <see cref="Sqe.PrepUringCmd"/>.</summary>
public static unsafe class VirtioBlkCommand
{
    /// <summary>
    /// A read, write or flush. <paramref name="sector"/> is in 512-byte units whatever the logical block size.
    /// With <paramref name="vectored"/>, <paramref name="data"/> points at an iovec array and <paramref name="dataLength"/> is its count.
    /// </summary>
    public static void Prep(IoUringSqe* sqe, int sqeSize, int fd, VirtioBlkRequestType type, ulong sector,
        void* data, uint dataLength, bool vectored, int fixedBufferIndex, ulong userData)
    {
        VirtblkUringCmd cmd = new()
        {
            Type = (uint)type,
            Sector = sector,
            Data = (ulong)data,
            DataLen = dataLength,
        };
        var payload = MemoryMarshal.AsBytes(new ReadOnlySpan<VirtblkUringCmd>(in cmd));
        uint op = (uint)(vectored ? VirtioBlkUringCmdOp.IoVec : VirtioBlkUringCmdOp.Io);
        if (fixedBufferIndex >= 0)
        {
            Sqe.PrepUringCmdFixed(sqe, sqeSize, fd, op, payload, (ushort)fixedBufferIndex, userData);
        }
        else
        {
            Sqe.PrepUringCmd(sqe, sqeSize, fd, op, payload, userData);
        }
    }

    /// <summary>
    /// What a passthrough completion's cqe->res says, in each form the kernels in the field use: 0 is success; a
    /// negative value is -errno (the posted series and this project's kernel); 1 and 2 are the virtio status bytes
    /// IOERR and UNSUPP; a value above 2 is a block-layer errno folded into the status byte, <c>(u8)-errno</c>
    /// (the OpenAnolis variant: 251 is EIO).
    /// </summary>
    public static (Errno Errno, VirtioBlkStatus? Status) Decode(int res) => res switch
    {
        0 => (Errno.None, null),
        < 0 => ((Errno)(-res), null),
        (int)VirtioBlkStatus.IoErr => (Errno.EIO, VirtioBlkStatus.IoErr),
        (int)VirtioBlkStatus.Unsupported => (Errno.EOPNOTSUPP, VirtioBlkStatus.Unsupported),
        <= 255 => ((Errno)(256 - res), null),
        _ => (Errno.EIO, (VirtioBlkStatus)res),
    };

    /// <summary>The exception a failed passthrough completion stands for, or null for success.</summary>
    public static IoUringException? Failure(int res, IoOperationKind kind, string operation, string path)
    {
        (Errno errno, VirtioBlkStatus? status) = Decode(res);
        if (errno == Errno.None)
        {
            return null;
        }

        return status is VirtioBlkStatus s
            ? new VirtioBlkStatusException(s, kind, operation, path)
            : new IoUringException(errno, kind, operation, res > 0 ? $"The kernel reported the error as status byte {res} ((u8)-errno)." : null, path);
    }

    /// <summary>Throws what <see cref="Failure"/> returns.</summary>
    public static void ThrowIfFailed(int res, IoOperationKind kind, string operation, string path)
    {
        if (Failure(res, kind, operation, path) is IoUringException e)
        {
            throw e;
        }
    }

    /// <summary>VIRTIO_BLK_S_* names, the one spelling of them.</summary>
    public static string StatusName(VirtioBlkStatus s) => s switch
    {
        VirtioBlkStatus.Ok => "VIRTIO_BLK_S_OK",
        VirtioBlkStatus.IoErr => "VIRTIO_BLK_S_IOERR",
        VirtioBlkStatus.Unsupported => "VIRTIO_BLK_S_UNSUPP",
        _ => $"virtio status {(int)s}",
    };
}

/// <summary>The device answered a passthrough command with a non-zero virtio status byte.</summary>
public sealed class VirtioBlkStatusException : IoUringException
{
    public VirtioBlkStatusException(VirtioBlkStatus status, IoOperationKind kind, string operation, string path)
        : base(status == VirtioBlkStatus.Unsupported ? Errno.EOPNOTSUPP : Errno.EIO, kind, operation,
            $"The device answered virtio status {(int)status} ({VirtioBlkCommand.StatusName(status)}).", path)
    {
        Status = status;
    }

    public VirtioBlkStatus Status { get; }
}
