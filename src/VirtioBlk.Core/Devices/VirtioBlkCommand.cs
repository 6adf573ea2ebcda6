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

    /// <summary>Turns a passthrough completion into an exception: negative res is an errno, positive the virtio status byte.</summary>
    public static void ThrowIfFailed(int res, IoOperationKind kind, string operation, string path)
    {
        if (res < 0)
        {
            throw new IoUringException((Errno)(-res), kind, operation, path: path);
        }
        if (res > 0)
        {
            throw new VirtioBlkStatusException((VirtioBlkStatus)res, kind, operation, path);
        }
    }
}

/// <summary>The device answered a passthrough command with a non-zero virtio status byte.</summary>
public sealed class VirtioBlkStatusException : IoUringException
{
    public VirtioBlkStatusException(VirtioBlkStatus status, IoOperationKind kind, string operation, string path)
        : base(status == VirtioBlkStatus.Unsupported ? Errno.EOPNOTSUPP : Errno.EIO, kind, operation,
            $"The device answered virtio status {(int)status} ({StatusName(status)}).", path)
    {
        Status = status;
    }

    public VirtioBlkStatus Status { get; }

    private static string StatusName(VirtioBlkStatus s) => s switch
    {
        VirtioBlkStatus.IoErr => "VIRTIO_BLK_S_IOERR",
        VirtioBlkStatus.Unsupported => "VIRTIO_BLK_S_UNSUPP",
        _ => "unknown",
    };
}
