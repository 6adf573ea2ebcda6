using System;

namespace VirtioBlk.Core.Abi;

// Every io_uring and virtio-blk passthrough constant the project uses, in one place.
// AbiLayoutTests compares each value with <linux/io_uring.h> by compiling a C program.

/// <summary>IORING_SETUP_* flags for io_uring_setup(2).</summary>
[Flags]
public enum IoUringSetupFlags : uint
{
    None = 0,
    IoPoll = 1u << 0,
    SqPoll = 1u << 1,
    SqAff = 1u << 2,
    CqSize = 1u << 3,
    Clamp = 1u << 4,
    AttachWq = 1u << 5,
    RDisabled = 1u << 6,
    SubmitAll = 1u << 7,
    CoopTaskRun = 1u << 8,
    TaskRunFlag = 1u << 9,
    Sqe128 = 1u << 10,
    Cqe32 = 1u << 11,
    SingleIssuer = 1u << 12,
    DeferTaskRun = 1u << 13,
}

/// <summary>IORING_FEAT_* bits the kernel reports in io_uring_params.features.</summary>
[Flags]
public enum IoUringFeatures : uint
{
    None = 0,
    SingleMmap = 1u << 0,
    NoDrop = 1u << 1,
    SubmitStable = 1u << 2,
    RwCurPos = 1u << 3,
    CurPersonality = 1u << 4,
    FastPoll = 1u << 5,
    Poll32Bits = 1u << 6,
    SqPollNonFixed = 1u << 7,
    ExtArg = 1u << 8,
    NativeWorkers = 1u << 9,
    RsrcTags = 1u << 10,
    CqeSkip = 1u << 11,
    LinkedFile = 1u << 12,
    RegRegRing = 1u << 13,
    // 6.10 and later; newer than Debian 12's header, which the ABI test checks the rest against.
    RecvSendBundle = 1u << 14,
    MinTimeout = 1u << 15,
    RwAttr = 1u << 16,
    NoIowait = 1u << 17,
}

/// <summary>Readable names for bit sets a newer kernel may extend.</summary>
public static class IoUringFlagText
{
    /// <summary>"SingleMmap, NoDrop, ..." and any bits this build has no name for as one hex number.</summary>
    public static string Describe(IoUringFeatures features)
    {
        uint known = 0;
        foreach (IoUringFeatures f in Enum.GetValues<IoUringFeatures>())
        {
            known |= (uint)f;
        }
        uint unknown = (uint)features & ~known;
        string names = ((IoUringFeatures)((uint)features & known)).ToString();
        return unknown == 0 ? names : $"{names}, unnamed bits 0x{unknown:X}";
    }
}

/// <summary>IORING_OP_* opcodes (the subset the project issues).</summary>
public enum IoUringOp : byte
{
    Nop = 0,
    Readv = 1,
    Writev = 2,
    Fsync = 3,
    ReadFixed = 4,
    WriteFixed = 5,
    AsyncCancel = 14,
    Read = 22,
    Write = 23,
    UringCmd = 46,
    // Linux 6.15; newer than the build machines' headers (6.1), so the ABI test skips these two.
    ReadvFixed = 60,
    WritevFixed = 61,
}

/// <summary>IOSQE_* per-SQE flags.</summary>
[Flags]
public enum IoSqeFlags : byte
{
    None = 0,
    FixedFile = 1 << 0,
    IoDrain = 1 << 1,
    IoLink = 1 << 2,
    IoHardLink = 1 << 3,
    Async = 1 << 4,
    BufferSelect = 1 << 5,
    CqeSkipSuccess = 1 << 6,
}

/// <summary>IORING_ENTER_* flags for io_uring_enter(2).</summary>
[Flags]
public enum IoUringEnterFlags : uint
{
    None = 0,
    GetEvents = 1u << 0,
    SqWakeup = 1u << 1,
    SqWait = 1u << 2,
    ExtArg = 1u << 3,
    RegisteredRing = 1u << 4,
}

/// <summary>IORING_REGISTER_* opcodes for io_uring_register(2).</summary>
public enum IoUringRegisterOp : uint
{
    RegisterBuffers = 0,
    UnregisterBuffers = 1,
    RegisterFiles = 2,
    RegisterProbe = 8,
    RegisterRingFds = 20,
}

/// <summary>Flags in the shared SQ ring's flags word, written by the kernel.</summary>
[Flags]
public enum IoUringSqRingFlags : uint
{
    None = 0,
    NeedWakeup = 1u << 0,
    CqOverflow = 1u << 1,
    TaskRun = 1u << 2,
}

/// <summary>Scalar constants of the io_uring ABI.</summary>
public static class IoUringConstants
{
    public const ulong OffSqRing = 0;
    public const ulong OffCqRing = 0x8000000;
    public const ulong OffSqes = 0x10000000;

    public const uint UringCmdFixed = 1u << 0;          // IORING_URING_CMD_FIXED
    public const uint FsyncDataSync = 1u << 0;          // IORING_FSYNC_DATASYNC
    public const uint AsyncCancelAll = 1u << 0;         // IORING_ASYNC_CANCEL_ALL
    public const uint AsyncCancelAny = 1u << 2;         // IORING_ASYNC_CANCEL_ANY
    public const ushort ProbeOpSupported = 1;           // IO_URING_OP_SUPPORTED
    // NOP's nop_flags (in the rw_flags word). Newer than the build machines' headers (6.1), so the ABI test skips these:
    // IORING_NOP_INJECT_RESULT (6.12) posts sqe->len as cqe->res; IORING_NOP_CQE32 (6.18) posts sqe->off and sqe->addr
    // as big_cqe[0] and [1] on a CQE32 ring.
    public const uint NopInjectResult = 1u << 0;
    public const uint NopCqe32 = 1u << 5;

    /// <summary>Bytes of command payload at SQE offset 48: 16 in a 64-byte SQE, 80 in a 128-byte one.</summary>
    public const int UringCmdOffset = 48;
    public const int SqeSize = 64;
    public const int Sqe128Size = 128;
    public const int CqeSize = 16;
    public const int Cqe32Size = 32;

    /// <summary>SOCKET_URING_OP_SIOCINQ: a socket's uring_cmd answering its queued byte count (kernel 6.7+).</summary>
    public const uint SocketUringOpSiocInq = 0;
}

/// <summary>cmd_op values of the virtio-blk char device (VIRTBLK_URING_CMD_*).</summary>
public enum VirtioBlkUringCmdOp : uint
{
    Io = 1,
    IoVec = 2,
}

/// <summary>VIRTIO_BLK_T_* request types; the direction is <c>type &amp; 1</c>.</summary>
public enum VirtioBlkRequestType : uint
{
    In = 0,
    Out = 1,
    Flush = 4,
    GetId = 8,
}

/// <summary>The virtio status byte a passthrough completion reports in cqe->res when it is not negative.</summary>
public enum VirtioBlkStatus : int
{
    Ok = 0,
    IoErr = 1,
    Unsupported = 2,
}

/// <summary>Virtio-blk's unit of addressing: the command's sector field is always in 512-byte units.</summary>
public static class VirtioBlkConstants
{
    public const int SectorSize = 512;
    public const int SectorShift = 9;
    /// <summary>VIRTIO_BLK_ID_BYTES: the GET_ID answer's length.</summary>
    public const int IdBytes = 20;
}
