using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Abi;

// Every kernel struct layout the project uses, in one place. AbiLayoutTests checks each offset and size
// against the C headers.

[StructLayout(LayoutKind.Sequential)]
public struct IoSqringOffsets
{
    public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1;
    public ulong Resv2;
}

[StructLayout(LayoutKind.Sequential)]
public struct IoCqringOffsets
{
    public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1;
    public ulong Resv2;
}

/// <summary>struct io_uring_params (120 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct IoUringParams
{
    public uint SqEntries;
    public uint CqEntries;
    public uint Flags;
    public uint SqThreadCpu;
    public uint SqThreadIdle;
    public uint Features;
    public uint WqFd;
    public fixed uint Resv[3];
    public IoSqringOffsets SqOff;
    public IoCqringOffsets CqOff;
}

/// <summary>struct io_uring_sqe: 64 bytes; with IORING_SETUP_SQE128 the ring's slots are 128 and the command runs on.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public unsafe struct IoUringSqe
{
    [FieldOffset(0)] public byte Opcode;
    [FieldOffset(1)] public byte Flags;
    [FieldOffset(2)] public ushort IoPrio;
    [FieldOffset(4)] public int Fd;
    [FieldOffset(8)] public ulong Off;
    [FieldOffset(8)] public uint CmdOp;
    [FieldOffset(16)] public ulong Addr;
    [FieldOffset(24)] public uint Len;
    [FieldOffset(28)] public uint OpFlags;          // rw_flags, fsync_flags, cancel_flags, uring_cmd_flags, ...
    [FieldOffset(32)] public ulong UserData;
    [FieldOffset(40)] public ushort BufIndex;
    [FieldOffset(42)] public ushort Personality;
    [FieldOffset(44)] public uint FileIndex;
    [FieldOffset(48)] public ulong Addr3;
    [FieldOffset(56)] public ulong Pad2;
}

/// <summary>struct io_uring_cqe (16 bytes). With IORING_SETUP_CQE32 each slot is 32 bytes: see <see cref="IoUringCqe32"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct IoUringCqe
{
    public readonly ulong UserData;
    public readonly int Res;
    public readonly uint Flags;

    public IoUringCqe(ulong userData, int res, uint flags)
    {
        UserData = userData;
        Res = res;
        Flags = flags;
    }
}

/// <summary>
/// A whole 32-byte completion of an IORING_SETUP_CQE32 ring: struct io_uring_cqe followed by its two big_cqe
/// words (what the op put there: NOP with IORING_NOP_CQE32 echoes off and addr; NVMe passthrough the result dwords).
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public readonly struct IoUringCqe32
{
    public readonly ulong UserData;
    public readonly int Res;
    public readonly uint Flags;
    /// <summary>big_cqe[0].</summary>
    public readonly ulong BigCqe0;
    /// <summary>big_cqe[1].</summary>
    public readonly ulong BigCqe1;

    public IoUringCqe32(ulong userData, int res, uint flags, ulong bigCqe0, ulong bigCqe1)
    {
        UserData = userData;
        Res = res;
        Flags = flags;
        BigCqe0 = bigCqe0;
        BigCqe1 = bigCqe1;
    }

    /// <summary>The first 16 bytes, as a ring with 16-byte CQEs would report them.</summary>
    public IoUringCqe Cqe => new(UserData, Res, Flags);
}

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoVec
{
    public nint Base;
    public nuint Length;
}

/// <summary>struct io_uring_probe_op.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringProbeOp
{
    public byte Op;
    public byte Resv;
    public ushort Flags;
    public uint Resv2;
}

/// <summary>struct io_uring_probe, followed in memory by ops_len <see cref="IoUringProbeOp"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct IoUringProbe
{
    public byte LastOp;
    public byte OpsLen;
    public ushort Resv;
    public fixed uint Resv2[3];
}

/// <summary>struct io_uring_rsrc_update (IORING_REGISTER_RING_FDS takes an array of these).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringRsrcUpdate
{
    public uint Offset;
    public uint Resv;
    public ulong Data;
}

/// <summary>struct __kernel_timespec.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KernelTimespec
{
    public long Sec;
    public long Nsec;
}

/// <summary>struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringGeteventsArg
{
    public ulong Sigmask;
    public uint SigmaskSz;
    public uint Pad;
    public ulong Ts;
}

/// <summary>struct virtblk_uring_cmd: the 32-byte virtio-blk passthrough command at SQE offset 48 (little endian).</summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct VirtblkUringCmd
{
    public uint Type;
    public uint IoPrio;
    public ulong Sector;
    public ulong Data;
    public uint DataLen;
    public uint Flag;
}

/// <summary>struct statx (one layout on every architecture); only the fields the project reads are named.</summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
public struct Statx
{
    [FieldOffset(28)] public ushort Mode;
    [FieldOffset(40)] public ulong Size;
    [FieldOffset(128)] public uint RdevMajor;
    [FieldOffset(132)] public uint RdevMinor;
}
