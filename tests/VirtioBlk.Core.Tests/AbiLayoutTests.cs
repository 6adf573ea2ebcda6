using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using VirtioBlk.Core.Abi;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>
/// Every constant, offset and size the core uses, compared with what the machine's C compiler says about
/// &lt;linux/io_uring.h&gt; (and the statx / ioctl headers). The C side is compiled and run for real.
/// </summary>
public sealed unsafe class AbiLayoutTests
{
    private static readonly Lazy<Dictionary<string, long>> CValues = new(CompileAndRun);

    public static TheoryData<string> Groups => new(Expectations.Keys);

    private static Dictionary<string, (string C, long Managed)[]> Expectations => new()
    {
        ["io_uring_sqe"] = new[]
        {
            ("sizeof(struct io_uring_sqe)", (long)sizeof(IoUringSqe)),
            Off<IoUringSqe>("io_uring_sqe", "opcode", nameof(IoUringSqe.Opcode)),
            Off<IoUringSqe>("io_uring_sqe", "flags", nameof(IoUringSqe.Flags)),
            Off<IoUringSqe>("io_uring_sqe", "ioprio", nameof(IoUringSqe.IoPrio)),
            Off<IoUringSqe>("io_uring_sqe", "fd", nameof(IoUringSqe.Fd)),
            Off<IoUringSqe>("io_uring_sqe", "off", nameof(IoUringSqe.Off)),
            Off<IoUringSqe>("io_uring_sqe", "cmd_op", nameof(IoUringSqe.CmdOp)),
            Off<IoUringSqe>("io_uring_sqe", "addr", nameof(IoUringSqe.Addr)),
            Off<IoUringSqe>("io_uring_sqe", "len", nameof(IoUringSqe.Len)),
            Off<IoUringSqe>("io_uring_sqe", "rw_flags", nameof(IoUringSqe.OpFlags)),
            Off<IoUringSqe>("io_uring_sqe", "uring_cmd_flags", nameof(IoUringSqe.OpFlags)),
            Off<IoUringSqe>("io_uring_sqe", "user_data", nameof(IoUringSqe.UserData)),
            Off<IoUringSqe>("io_uring_sqe", "buf_index", nameof(IoUringSqe.BufIndex)),
            Off<IoUringSqe>("io_uring_sqe", "personality", nameof(IoUringSqe.Personality)),
            Off<IoUringSqe>("io_uring_sqe", "file_index", nameof(IoUringSqe.FileIndex)),
            Off<IoUringSqe>("io_uring_sqe", "addr3", nameof(IoUringSqe.Addr3)),
            ("offsetof(struct io_uring_sqe, cmd)", IoUringConstants.UringCmdOffset),
        },
        ["io_uring_cqe"] = new[]
        {
            ("sizeof(struct io_uring_cqe)", (long)sizeof(IoUringCqe)),
            Off<IoUringCqe>("io_uring_cqe", "user_data", nameof(IoUringCqe.UserData)),
            Off<IoUringCqe>("io_uring_cqe", "res", nameof(IoUringCqe.Res)),
            Off<IoUringCqe>("io_uring_cqe", "flags", nameof(IoUringCqe.Flags)),
            // A CQE32 slot: the 16-byte CQE, then big_cqe[0] and [1].
            ("sizeof(struct io_uring_cqe) + 2 * sizeof(__u64)", (long)sizeof(IoUringCqe32)),
            Off<IoUringCqe32>("io_uring_cqe", "user_data", nameof(IoUringCqe32.UserData)),
            Off<IoUringCqe32>("io_uring_cqe", "res", nameof(IoUringCqe32.Res)),
            Off<IoUringCqe32>("io_uring_cqe", "flags", nameof(IoUringCqe32.Flags)),
            ("offsetof(struct io_uring_cqe, big_cqe)", (long)Marshal.OffsetOf<IoUringCqe32>(nameof(IoUringCqe32.BigCqe0))),
            ("offsetof(struct io_uring_cqe, big_cqe) + sizeof(__u64)", (long)Marshal.OffsetOf<IoUringCqe32>(nameof(IoUringCqe32.BigCqe1))),
            ("IORING_SETUP_CQE32", (long)IoUringSetupFlags.Cqe32),
        },
        ["io_uring_params"] = new[]
        {
            ("sizeof(struct io_uring_params)", (long)sizeof(IoUringParams)),
            Off<IoUringParams>("io_uring_params", "sq_entries", nameof(IoUringParams.SqEntries)),
            Off<IoUringParams>("io_uring_params", "cq_entries", nameof(IoUringParams.CqEntries)),
            Off<IoUringParams>("io_uring_params", "flags", nameof(IoUringParams.Flags)),
            Off<IoUringParams>("io_uring_params", "sq_thread_cpu", nameof(IoUringParams.SqThreadCpu)),
            Off<IoUringParams>("io_uring_params", "sq_thread_idle", nameof(IoUringParams.SqThreadIdle)),
            Off<IoUringParams>("io_uring_params", "features", nameof(IoUringParams.Features)),
            Off<IoUringParams>("io_uring_params", "wq_fd", nameof(IoUringParams.WqFd)),
            Off<IoUringParams>("io_uring_params", "sq_off", nameof(IoUringParams.SqOff)),
            Off<IoUringParams>("io_uring_params", "cq_off", nameof(IoUringParams.CqOff)),
            ("sizeof(struct io_sqring_offsets)", sizeof(IoSqringOffsets)),
            Off<IoSqringOffsets>("io_sqring_offsets", "head", nameof(IoSqringOffsets.Head)),
            Off<IoSqringOffsets>("io_sqring_offsets", "tail", nameof(IoSqringOffsets.Tail)),
            Off<IoSqringOffsets>("io_sqring_offsets", "ring_mask", nameof(IoSqringOffsets.RingMask)),
            Off<IoSqringOffsets>("io_sqring_offsets", "flags", nameof(IoSqringOffsets.Flags)),
            Off<IoSqringOffsets>("io_sqring_offsets", "dropped", nameof(IoSqringOffsets.Dropped)),
            Off<IoSqringOffsets>("io_sqring_offsets", "array", nameof(IoSqringOffsets.Array)),
            ("sizeof(struct io_cqring_offsets)", sizeof(IoCqringOffsets)),
            Off<IoCqringOffsets>("io_cqring_offsets", "head", nameof(IoCqringOffsets.Head)),
            Off<IoCqringOffsets>("io_cqring_offsets", "tail", nameof(IoCqringOffsets.Tail)),
            Off<IoCqringOffsets>("io_cqring_offsets", "ring_mask", nameof(IoCqringOffsets.RingMask)),
            Off<IoCqringOffsets>("io_cqring_offsets", "overflow", nameof(IoCqringOffsets.Overflow)),
            Off<IoCqringOffsets>("io_cqring_offsets", "cqes", nameof(IoCqringOffsets.Cqes)),
            Off<IoCqringOffsets>("io_cqring_offsets", "flags", nameof(IoCqringOffsets.Flags)),
        },
        ["registration structs"] = new[]
        {
            ("sizeof(struct iovec)", (long)sizeof(IoVec)),
            ("sizeof(struct io_uring_probe)", sizeof(IoUringProbe)),
            ("sizeof(struct io_uring_probe_op)", sizeof(IoUringProbeOp)),
            Off<IoUringProbe>("io_uring_probe", "ops_len", nameof(IoUringProbe.OpsLen)),
            Off<IoUringProbeOp>("io_uring_probe_op", "flags", nameof(IoUringProbeOp.Flags)),
            ("sizeof(struct io_uring_rsrc_update)", sizeof(IoUringRsrcUpdate)),
            Off<IoUringRsrcUpdate>("io_uring_rsrc_update", "data", nameof(IoUringRsrcUpdate.Data)),
            ("sizeof(struct io_uring_getevents_arg)", sizeof(IoUringGeteventsArg)),
            Off<IoUringGeteventsArg>("io_uring_getevents_arg", "ts", nameof(IoUringGeteventsArg.Ts)),
            ("sizeof(struct __kernel_timespec)", sizeof(KernelTimespec)),
        },
        ["statx"] = new[]
        {
            ("sizeof(struct statx)", (long)sizeof(Statx)),
            Off<Statx>("statx", "stx_mode", nameof(Statx.Mode)),
            Off<Statx>("statx", "stx_size", nameof(Statx.Size)),
            Off<Statx>("statx", "stx_rdev_major", nameof(Statx.RdevMajor)),
            Off<Statx>("statx", "stx_rdev_minor", nameof(Statx.RdevMinor)),
            ("STATX_TYPE", Interop.Sys.STATX_TYPE),
            ("STATX_SIZE", Interop.Sys.STATX_SIZE),
        },
        ["setup flags"] = Enum.GetValues<IoUringSetupFlags>().Where(f => f != 0)
            .Select(f => ($"IORING_SETUP_{Upper(f.ToString())}", (long)f)).ToArray(),
        ["features"] = Enum.GetValues<IoUringFeatures>().Where(f => f != 0 && f < IoUringFeatures.RegRegRing)
            .Select(f => ($"IORING_FEAT_{Upper(f.ToString())}", (long)f)).ToArray(),
        ["opcodes"] = Enum.GetValues<IoUringOp>().Where(o => o is not (IoUringOp.ReadvFixed or IoUringOp.WritevFixed))
            .Select(f => ($"IORING_OP_{Upper(f.ToString())}", (long)f)).ToArray(),
        ["sqe flags"] = Enum.GetValues<IoSqeFlags>().Where(f => f != 0)
            .Select(f => ($"IOSQE_{Upper(f.ToString())}", (long)f)).ToArray(),
        ["enter flags"] = Enum.GetValues<IoUringEnterFlags>().Where(f => f != 0)
            .Select(f => ($"IORING_ENTER_{Upper(f.ToString())}", (long)f)).ToArray(),
        ["register opcodes"] = Enum.GetValues<IoUringRegisterOp>()
            .Select(f => ($"IORING_{Upper(f.ToString())}", (long)f)).ToArray(),
        ["sq ring flags"] = Enum.GetValues<IoUringSqRingFlags>().Where(f => f != 0)
            .Select(f => ($"IORING_SQ_{Upper(f.ToString())}", (long)f)).ToArray(),
        ["scalar constants"] = new[]
        {
            ("IORING_OFF_SQ_RING", (long)IoUringConstants.OffSqRing),
            ("IORING_OFF_CQ_RING", (long)IoUringConstants.OffCqRing),
            ("IORING_OFF_SQES", (long)IoUringConstants.OffSqes),
            ("IORING_URING_CMD_FIXED", IoUringConstants.UringCmdFixed),
            ("IORING_FSYNC_DATASYNC", IoUringConstants.FsyncDataSync),
            ("IORING_ASYNC_CANCEL_ALL", IoUringConstants.AsyncCancelAll),
            ("IORING_ASYNC_CANCEL_ANY", IoUringConstants.AsyncCancelAny),
            ("IO_URING_OP_SUPPORTED", IoUringConstants.ProbeOpSupported),
            ("O_DIRECT", Interop.Sys.O_DIRECT),
            ("O_CLOEXEC", Interop.Sys.O_CLOEXEC),
            ("O_EXCL", Interop.Sys.O_EXCL),
            ("PROT_READ|PROT_WRITE", Interop.Sys.PROT_READ | Interop.Sys.PROT_WRITE),
            ("MAP_SHARED", Interop.Sys.MAP_SHARED),
            ("MAP_POPULATE", Interop.Sys.MAP_POPULATE),
            ("__NR_io_uring_setup", Interop.Sys.SYS_io_uring_setup),
            ("__NR_io_uring_enter", Interop.Sys.SYS_io_uring_enter),
            ("__NR_io_uring_register", Interop.Sys.SYS_io_uring_register),
        },
        ["errno"] = Enum.GetValues<Errno>().Where(e => e != Errno.None).Distinct()
            .Select(e => (e.ToString(), (long)e)).ToArray(),
    };

    [Theory]
    [MemberData(nameof(Groups))]
    public void ManagedAbiEqualsTheCHeaders(string group)
    {
        Dictionary<string, long> c = CValues.Value;
        var mismatches = Expectations[group]
            .Where(e => c[e.C] != e.Managed)
            .Select(e => $"{e.C}: C says {c[e.C]}, managed says {e.Managed}")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
    }

    [Fact]
    public void VirtblkUringCmdIsThe32BytePassthroughCommand()
    {
        // <linux/virtio_blk.h> on the host lacks the unmerged series' struct; check the documented layout.
        Assert.Equal(32, sizeof(VirtblkUringCmd));
        Assert.Equal(0, (int)Marshal.OffsetOf<VirtblkUringCmd>(nameof(VirtblkUringCmd.Type)));
        Assert.Equal(4, (int)Marshal.OffsetOf<VirtblkUringCmd>(nameof(VirtblkUringCmd.IoPrio)));
        Assert.Equal(8, (int)Marshal.OffsetOf<VirtblkUringCmd>(nameof(VirtblkUringCmd.Sector)));
        Assert.Equal(16, (int)Marshal.OffsetOf<VirtblkUringCmd>(nameof(VirtblkUringCmd.Data)));
        Assert.Equal(24, (int)Marshal.OffsetOf<VirtblkUringCmd>(nameof(VirtblkUringCmd.DataLen)));
        Assert.Equal(28, (int)Marshal.OffsetOf<VirtblkUringCmd>(nameof(VirtblkUringCmd.Flag)));
        // It fits a 128-byte SQE's command area (80 bytes), not a 64-byte one (16 bytes).
        Assert.True(sizeof(VirtblkUringCmd) <= IoUringConstants.Sqe128Size - IoUringConstants.UringCmdOffset);
        Assert.True(sizeof(VirtblkUringCmd) > IoUringConstants.SqeSize - IoUringConstants.UringCmdOffset);
    }

    private static (string, long) Off<T>(string cStruct, string cField, string managedField)
        => ($"offsetof(struct {cStruct}, {cField})", (long)Marshal.OffsetOf<T>(managedField));

    // SqPoll -> SQPOLL, CoopTaskRun -> COOP_TASKRUN, RegisterRingFds -> REGISTER_RING_FDS.
    private static string Upper(string pascal)
    {
        var map = new Dictionary<string, string>
        {
            ["IoPoll"] = "IOPOLL", ["SqPoll"] = "SQPOLL", ["SqAff"] = "SQ_AFF", ["CqSize"] = "CQSIZE",
            ["AttachWq"] = "ATTACH_WQ", ["RDisabled"] = "R_DISABLED", ["CoopTaskRun"] = "COOP_TASKRUN",
            ["TaskRunFlag"] = "TASKRUN_FLAG", ["Sqe128"] = "SQE128", ["Cqe32"] = "CQE32", ["DeferTaskRun"] = "DEFER_TASKRUN",
            ["Readv"] = "READV", ["Writev"] = "WRITEV", ["Poll32Bits"] = "POLL_32BITS", ["SqPollNonFixed"] = "SQPOLL_NONFIXED",
            ["RegisterRingFds"] = "REGISTER_RING_FDS", ["UnregisterRingFds"] = "UNREGISTER_RING_FDS", ["TaskRun"] = "TASKRUN",
            ["SqWakeup"] = "SQ_WAKEUP", ["SqWait"] = "SQ_WAIT", ["NoDrop"] = "NODROP", ["IoHardLink"] = "IO_HARDLINK",
            ["GetEvents"] = "GETEVENTS",
        };
        if (map.TryGetValue(pascal, out string? s)) return s;
        var sb = new StringBuilder();
        for (int i = 0; i < pascal.Length; i++)
        {
            if (i > 0 && char.IsUpper(pascal[i])) sb.Append('_');
            sb.Append(char.ToUpperInvariant(pascal[i]));
        }
        return sb.ToString();
    }

    private static Dictionary<string, long> CompileAndRun()
    {
        string? cc = Require.Which("cc") ?? Require.Which("gcc");
        if (cc is null) Assert.Skip("needs a C compiler ('cc') to read the kernel headers");
        string dir = Directory.CreateTempSubdirectory("virtioblk-abi-").FullName;
        try
        {
            var exprs = Expectations.Values.SelectMany(v => v).Select(v => v.C).Distinct().ToList();
            var src = new StringBuilder();
            src.AppendLine("#define _GNU_SOURCE");
            src.AppendLine("#include <stdio.h>\n#include <stddef.h>\n#include <errno.h>\n#include <fcntl.h>\n#include <sys/mman.h>");
            src.AppendLine("#include <sys/stat.h>\n#include <sys/uio.h>\n#include <sys/syscall.h>\n#include <linux/fs.h>\n#include <linux/io_uring.h>");
            src.AppendLine("int main(void) {");
            foreach (string e in exprs)
            {
                src.AppendLine($"  printf(\"%s=%lld\\n\", \"{e}\", (long long)({e}));");
            }
            src.AppendLine("  return 0;\n}");
            string c = Path.Combine(dir, "abi.c");
            string exe = Path.Combine(dir, "abi");
            File.WriteAllText(c, src.ToString());
            Shell.Run(cc, "-o", exe, c);
            return Shell.Run(exe).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('=', 2))
                .ToDictionary(p => p[0], p => long.Parse(p[1]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void FeatureBitsWithoutANameAreShownApartFromTheNamedOnes()
    {
        Assert.Equal("SingleMmap, ExtArg", IoUringFlagText.Describe(IoUringFeatures.SingleMmap | IoUringFeatures.ExtArg));
        // A kernel newer than this build: the known names stay readable, the rest is one hex number.
        Assert.Equal("SingleMmap, NoIowait, unnamed bits 0x80000000",
            IoUringFlagText.Describe(IoUringFeatures.SingleMmap | IoUringFeatures.NoIowait | (IoUringFeatures)0x8000_0000));
        Assert.Equal("None", IoUringFlagText.Describe(IoUringFeatures.None));
    }
}
