using System;
using System.Runtime.CompilerServices;
using VirtioBlk.Core.Abi;

namespace VirtioBlk.Core.Uring;

/// <summary>
/// SQE preparers. One place fills an SQE (<see cref="PrepRw"/>); every other preparer is a thin wrapper that sets
/// only its own extra fields, as liburing's io_uring_prep_* do. Data reads and writes on either path are prepared
/// by <see cref="VirtioBlk.Core.Io.IoShape"/>, which picks the opcode and calls PrepRw or the URING_CMD preparer.
/// </summary>
public static unsafe class Sqe
{
    /// <summary>Fills the common fields and clears the rest of the 64-byte SQE (a 128-byte slot's tail is the command's; see <see cref="PrepUringCmd"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrepRw(IoUringSqe* sqe, IoUringOp op, int fd, ulong addr, uint len, ulong offset, ulong userData)
        => PrepRwWithFlags(sqe, op, 0, fd, addr, len, offset, userData);

    /// <summary>
    /// <see cref="PrepRw(IoUringSqe*, IoUringOp, int, ulong, uint, ulong, ulong)"/> with the SQE's IOSQE_* flags.
    /// The 64 bytes are written as nine word stores in field order (opcode | flags | ioprio 0, fd, off, addr,
    /// len | rw_flags 0, user_data, buf_index | personality | file_index 0, addr3 0, pad2 0) instead of fourteen field
    /// stores: this runs once per I/O. Little-endian, as every target of the project (x86-64, arm64); AbiLayoutTests
    /// check the offsets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrepRwWithFlags(IoUringSqe* sqe, IoUringOp op, byte flags, int fd, ulong addr, uint len, ulong offset, ulong userData)
    {
        byte* p = (byte*)sqe;
        Unsafe.WriteUnaligned(p, (uint)op | (uint)flags << 8);
        Unsafe.WriteUnaligned(p + 4, fd);
        Unsafe.WriteUnaligned(p + 8, offset);
        Unsafe.WriteUnaligned(p + 16, addr);
        Unsafe.WriteUnaligned(p + 24, (ulong)len);
        Unsafe.WriteUnaligned(p + 32, userData);
        Unsafe.WriteUnaligned(p + 40, 0UL);
        Unsafe.WriteUnaligned(p + 48, 0UL);
        Unsafe.WriteUnaligned(p + 56, 0UL);
    }

    public static void PrepNop(IoUringSqe* sqe, ulong userData)
        => PrepRw(sqe, IoUringOp.Nop, -1, 0, 0, 0, userData);

    public static void PrepFsync(IoUringSqe* sqe, int fd, bool dataSync, ulong userData)
    {
        PrepRw(sqe, IoUringOp.Fsync, fd, 0, 0, 0, userData);
        sqe->OpFlags = dataSync ? IoUringConstants.FsyncDataSync : 0;
    }

    public static void PrepCancelAny(IoUringSqe* sqe, ulong userData)
    {
        PrepRw(sqe, IoUringOp.AsyncCancel, -1, 0, 0, 0, userData);
        sqe->OpFlags = IoUringConstants.AsyncCancelAny | IoUringConstants.AsyncCancelAll;
    }

    /// <summary>
    /// IORING_OP_URING_CMD: <paramref name="cmdOp"/> at offset 8 and <paramref name="payload"/> copied to offset 48.
    /// <paramref name="sqeSize"/> is the ring's slot size (64 or 128), which bounds the payload to 16 or 80 bytes;
    /// the rest of the command area is zeroed so no stale bytes from an earlier SQE reach the driver.
    /// </summary>
    public static void PrepUringCmd(IoUringSqe* sqe, int sqeSize, int fd, uint cmdOp, ReadOnlySpan<byte> payload, ulong userData)
    {
        int capacity = sqeSize - IoUringConstants.UringCmdOffset;
        if (payload.Length > capacity)
        {
            throw new ArgumentException(
                $"A uring_cmd payload of {payload.Length} bytes does not fit a {sqeSize}-byte SQE ({capacity} bytes); " +
                "create the ring with IORING_SETUP_SQE128 for up to 80 bytes.", nameof(payload));
        }
        PrepRw(sqe, IoUringOp.UringCmd, fd, 0, 0, 0, userData);
        sqe->CmdOp = cmdOp;
        var cmd = new Span<byte>((byte*)sqe + IoUringConstants.UringCmdOffset, capacity);
        payload.CopyTo(cmd);
        cmd.Slice(payload.Length).Clear();
    }

    /// <summary>
    /// <see cref="PrepUringCmd"/> (and <see cref="PrepUringCmdFixed"/> when <paramref name="fixedBuffer"/>) for the one
    /// command that runs per I/O, a 32-byte <c>struct virtblk_uring_cmd</c>, in a 128-byte slot, written as sixteen
    /// word stores like <see cref="PrepRwWithFlags"/>: opcode | flags, fd, cmd_op | __pad1 0, addr 0, len 0 |
    /// uring_cmd_flags, user_data, buf_index 0 | personality 0 | file_index 0, then type | ioprio 0, sector, data,
    /// data_len | flag 0, and the 48 bytes after the command zeroed. No span and no copy: this runs once per I/O.
    /// Little-endian; AbiLayoutTests check the offsets and a test compares it with PrepUringCmd byte for byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrepVirtioBlkCmd128(IoUringSqe* sqe, byte flags, int fd, uint cmdOp, bool fixedBuffer,
        uint type, ulong sector, ulong data, uint dataLength, ulong userData)
    {
        byte* p = (byte*)sqe;
        Unsafe.WriteUnaligned(p, (uint)IoUringOp.UringCmd | (uint)flags << 8);
        Unsafe.WriteUnaligned(p + 4, fd);
        Unsafe.WriteUnaligned(p + 8, (ulong)cmdOp);
        Unsafe.WriteUnaligned(p + 16, 0UL);
        Unsafe.WriteUnaligned(p + 24, fixedBuffer ? (ulong)IoUringConstants.UringCmdFixed << 32 : 0UL);
        Unsafe.WriteUnaligned(p + 32, userData);
        Unsafe.WriteUnaligned(p + 40, 0UL);
        Unsafe.WriteUnaligned(p + 48, (ulong)type);
        Unsafe.WriteUnaligned(p + 56, sector);
        Unsafe.WriteUnaligned(p + 64, data);
        Unsafe.WriteUnaligned(p + 72, (ulong)dataLength);
        Unsafe.WriteUnaligned(p + 80, 0UL);
        Unsafe.WriteUnaligned(p + 88, 0UL);
        Unsafe.WriteUnaligned(p + 96, 0UL);
        Unsafe.WriteUnaligned(p + 104, 0UL);
        Unsafe.WriteUnaligned(p + 112, 0UL);
        Unsafe.WriteUnaligned(p + 120, 0UL);
    }

    /// <summary>
    /// The per-I/O fields of an SQE made by <see cref="PrepRwWithFlags"/>: offset, address and user data, for a loop
    /// that copies the rest from a template made once (see IoShape.PreparePlainTemplate).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PatchRw(IoUringSqe* sqe, ulong addr, ulong offset, ulong userData)
    {
        byte* p = (byte*)sqe;
        Unsafe.WriteUnaligned(p + 8, offset);
        Unsafe.WriteUnaligned(p + 16, addr);
        Unsafe.WriteUnaligned(p + 32, userData);
    }

    /// <summary>The per-I/O fields of an SQE made by <see cref="PrepVirtioBlkCmd128"/>: user data, sector and data address.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PatchVirtioBlkCmd128(IoUringSqe* sqe, ulong sector, ulong data, ulong userData)
    {
        byte* p = (byte*)sqe;
        Unsafe.WriteUnaligned(p + 32, userData);
        Unsafe.WriteUnaligned(p + 56, sector);
        Unsafe.WriteUnaligned(p + 64, data);
    }

    /// <summary>URING_CMD on a registered buffer: IORING_URING_CMD_FIXED in uring_cmd_flags and its index in buf_index.</summary>
    public static void PrepUringCmdFixed(IoUringSqe* sqe, int sqeSize, int fd, uint cmdOp, ReadOnlySpan<byte> payload, ushort bufIndex, ulong userData)
    {
        PrepUringCmd(sqe, sqeSize, fd, cmdOp, payload, userData);
        sqe->OpFlags = IoUringConstants.UringCmdFixed;
        sqe->BufIndex = bufIndex;
    }

    /// <summary>Marks the SQE's fd as an index into the ring's registered files (IOSQE_FIXED_FILE).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetFixedFile(IoUringSqe* sqe) => sqe->Flags |= (byte)IoSqeFlags.FixedFile;
}
