using System;
using System.Threading;
using VirtioBlk.Core.Abi;

namespace VirtioBlk.Core.Uring;

/// <summary>
/// What this kernel's io_uring offers, asked once per process (the answers cannot change while it runs): the opcode
/// probe (IORING_REGISTER_PROBE), the features word of io_uring_params, and whether IORING_SETUP_SQE128 rings can
/// be created. One small ring answers all three, the first time any of them is read; thread-safe.
/// </summary>
public static class IoUringKernel
{
    private static readonly Lazy<Answers> s_answers = new(Ask, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>IORING_FEAT_* bits io_uring_setup reports.</summary>
    public static IoUringFeatures Features => Get().Features;

    /// <summary>The opcode probe.</summary>
    public static IoUringProbeResult Probe => Get().Probe;

    /// <summary>Whether a ring with 128-byte SQEs (IORING_SETUP_SQE128, Linux 5.19; URING_CMD passthrough) can be created.</summary>
    public static bool SupportsSqe128 => Get().Sqe128;

    /// <summary>Whether the kernel implements <paramref name="op"/>, per the probe.</summary>
    public static bool IsSupported(IoUringOp op) => Get().Probe.IsSupported(op);

    /// <summary>The answers, or a fresh exception each call when io_uring itself cannot be set up here (ENOSYS, EPERM, ...).</summary>
    private static Answers Get()
    {
        Answers a = s_answers.Value;
        if (a.Failure is { } f)
        {
            throw new IoUringException(f.Errno, f.Kind, f.Operation, f.Detail, f.Path);
        }
        return a;
    }

    private static Answers Ask()
    {
        try
        {
            bool sqe128 = true;
            IoUring ring;
            try
            {
                ring = new IoUring(new IoUringOptions { Entries = 2, Flags = IoUringSetupFlags.Sqe128 });
            }
            catch (IoUringException e) when (e.Errno == Errno.EINVAL)
            {
                sqe128 = false; // a kernel before 5.19: SQE128 is an unknown flag
                ring = new IoUring(new IoUringOptions { Entries = 2 });
            }
            using (ring)
            {
                return new Answers(ring.Features, ring.Probe(), sqe128, null);
            }
        }
        catch (IoUringException e)
        {
            return new Answers(IoUringFeatures.None, null!, false, e);
        }
    }

    private sealed record Answers(IoUringFeatures Features, IoUringProbeResult Probe, bool Sqe128, IoUringException? Failure);
}

/// <summary>The kernel's answer to IORING_REGISTER_PROBE.</summary>
public sealed class IoUringProbeResult
{
    private readonly bool[] _supported;

    internal IoUringProbeResult(byte lastOp, bool[] supported)
    {
        LastOp = lastOp;
        _supported = supported;
    }

    /// <summary>The highest opcode the kernel knows.</summary>
    public byte LastOp { get; }

    public bool IsSupported(IoUringOp op) => _supported[(byte)op];
}
