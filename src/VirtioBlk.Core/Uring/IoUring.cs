using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Interop;
using VirtioBlk.Core.Native;

namespace VirtioBlk.Core.Uring;

/// <summary>
/// One io_uring instance: its fd, the SQ/CQ mappings and the SQE array. Single-threaded: one thread prepares,
/// submits and reaps. Disposing it while I/O is in flight cancels what can be cancelled and waits for every
/// completion before anything is unmapped or any registered buffer is released; when it cannot confirm that, it
/// frees nothing the kernel may still write (see <see cref="KernelMayOwnMemory"/>).
/// </summary>
/// <remarks>
/// Every path that enters the kernel (<see cref="SubmitAndWait"/>, <see cref="WaitCompletions"/>,
/// <see cref="WaitCompletion"/>, the drain in <see cref="Dispose"/>) goes through <see cref="SubmitAndGetEvents"/>,
/// which asks <see cref="SqNeedsEnter"/> and <see cref="CqNeedsEnter"/> whether an io_uring_enter is needed and with
/// which flags -- as liburing's sq_ring_needs_enter and cq_ring_needs_enter. No path can forget the SQPOLL wake-up.
/// </remarks>
public sealed unsafe class IoUring : IDisposable
{
    private const int MaxProbeOps = 256;

    private readonly SafeFileDescriptor _ringFd;
    private readonly bool _ringFdRef;         // the one DangerousAddRef held for the ring's life (see _enterFd)
    private readonly SafeMmapRegion? _sqMap;
    private readonly SafeMmapRegion? _cqMap;   // null where IORING_FEAT_SINGLE_MMAP puts both rings in _sqMap
    private readonly SafeMmapRegion? _sqesMap;
    private readonly List<AlignedBuffer> _registeredBuffers = new();
    private readonly TimeSpan _drainTimeout;

    // Pointers into the shared rings, resolved once from io_uring_params' offsets.
    private readonly uint* _sqHead, _sqTail, _sqFlags;
    private readonly uint* _cqHead, _cqTail, _cqOverflow;
    private readonly uint _sqMask, _cqMask;
    private readonly byte* _sqes;
    private readonly byte* _cqes;
    private readonly int _sqeShift, _cqeShift;
    private readonly bool _sqPoll, _ioPoll;

    private uint _sqeTail;      // next SQE slot to hand out (local, not yet visible to the kernel)
    private uint _sqePublished; // SQ tail as last written to the shared ring
    private long _inFlight;     // published SQEs whose CQE has not been reaped
    // The raw ring fd (kept open by _ringFdRef, so no per-call AddRef on the hot path) or its registered index.
    private int _enterFd;
    private uint _enterFlags;   // IORING_ENTER_REGISTERED_RING once the ring fd is registered
    private bool _disposed;
    private bool _leaked;       // Dispose could not confirm the kernel was done: nothing was freed

    public IoUring(IoUringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        IoUringSetupFlags flags = options.EffectiveFlags;
        Validate(options, flags);

        IoUringParams p = default;
        p.Flags = (uint)flags;
        p.CqEntries = options.CompletionEntries;
        p.SqThreadCpu = (uint)(options.SqThreadCpu ?? 0);
        p.SqThreadIdle = options.SqThreadIdleMilliseconds;

        _ringFd = new SafeFileDescriptor(); // allocated before the syscall so the fd is never orphaned
        int fd = Sys.IoUringSetup(options.Entries, &p);
        if (fd < 0)
        {
            Errno e = ErrnoText.Last();
            _ringFd.Dispose();
            throw new IoUringException(e, IoOperationKind.RingSetup, "io_uring_setup", DiagnoseSetup(e, options, flags));
        }
        _ringFd.SetFd(fd);
        _ringFd.DangerousAddRef(ref _ringFdRef); // released in ReleaseNative, after the last enter
        _enterFd = fd;
        _drainTimeout = options.DrainTimeout;

        try
        {
            Features = (IoUringFeatures)p.Features;
            SetupFlags = flags;
            SqEntries = p.SqEntries;
            CqEntries = p.CqEntries;
            SqeSize = (flags & IoUringSetupFlags.Sqe128) != 0 ? IoUringConstants.Sqe128Size : IoUringConstants.SqeSize;
            CqeSize = (flags & IoUringSetupFlags.Cqe32) != 0 ? IoUringConstants.Cqe32Size : IoUringConstants.CqeSize;
            _sqeShift = SqeSize == 128 ? 7 : 6;
            _cqeShift = CqeSize == 32 ? 5 : 4;
            _sqPoll = (flags & IoUringSetupFlags.SqPoll) != 0;
            _ioPoll = (flags & IoUringSetupFlags.IoPoll) != 0;

            nuint sqSize = p.SqOff.Array + p.SqEntries * sizeof(uint);
            nuint cqSize = p.CqOff.Cqes + p.CqEntries * (uint)CqeSize;
            if ((Features & IoUringFeatures.SingleMmap) != 0)
            {
                // One mapping serves both rings; it must be as large as the larger of the two.
                _sqMap = SafeMmapRegion.Map(_ringFd, Math.Max(sqSize, cqSize), IoUringConstants.OffSqRing, "SQ/CQ rings");
            }
            else
            {
                _sqMap = SafeMmapRegion.Map(_ringFd, sqSize, IoUringConstants.OffSqRing, "SQ ring");
                _cqMap = SafeMmapRegion.Map(_ringFd, cqSize, IoUringConstants.OffCqRing, "CQ ring");
            }
            _sqesMap = SafeMmapRegion.Map(_ringFd, p.SqEntries * (nuint)SqeSize, IoUringConstants.OffSqes, "SQE array");

            byte* sq = _sqMap.Pointer;
            byte* cq = (_cqMap ?? _sqMap).Pointer;
            _sqHead = (uint*)(sq + p.SqOff.Head);
            _sqTail = (uint*)(sq + p.SqOff.Tail);
            _sqFlags = (uint*)(sq + p.SqOff.Flags);
            _sqMask = *(uint*)(sq + p.SqOff.RingMask);
            _cqHead = (uint*)(cq + p.CqOff.Head);
            _cqTail = (uint*)(cq + p.CqOff.Tail);
            _cqOverflow = (uint*)(cq + p.CqOff.Overflow);
            _cqMask = *(uint*)(cq + p.CqOff.RingMask);
            _cqes = cq + p.CqOff.Cqes;
            _sqes = _sqesMap.Pointer;

            // The SQ index array maps ring slots to SQEs; an identity map set once means no per-I/O write to it.
            uint* array = (uint*)(sq + p.SqOff.Array);
            for (uint i = 0; i < p.SqEntries; i++)
            {
                array[i] = i;
            }
            _sqeTail = _sqePublished = *_sqTail;
        }
        catch
        {
            GC.SuppressFinalize(this); // ReleaseNative gives the fd reference back; the finalizer must not again
            ReleaseNative();
            throw;
        }
    }

    /// <summary>What the kernel reported in io_uring_params.features.</summary>
    public IoUringFeatures Features { get; }

    /// <summary>The flags the ring was created with.</summary>
    public IoUringSetupFlags SetupFlags { get; }

    public uint SqEntries { get; }

    public uint CqEntries { get; }

    /// <summary>64, or 128 with IORING_SETUP_SQE128.</summary>
    public int SqeSize { get; }

    /// <summary>16, or 32 with IORING_SETUP_CQE32.</summary>
    public int CqeSize { get; }

    /// <summary>Bytes a URING_CMD payload may use: 16 in a 64-byte SQE, 80 in a 128-byte one.</summary>
    public int UringCmdCapacity => SqeSize - IoUringConstants.UringCmdOffset;

    /// <summary>True once <see cref="TryRegisterRingFd"/> succeeded: io_uring_enter then skips the fd lookup.</summary>
    public bool RingFdRegistered => (_enterFlags & (uint)IoUringEnterFlags.RegisteredRing) != 0;

    /// <summary>SQEs published to the kernel whose completions have not been reaped.</summary>
    public long InFlight => _inFlight;

    /// <summary>SQEs handed out by <see cref="GetSqe"/> and not yet submitted.</summary>
    public uint Unsubmitted => _sqeTail - _sqePublished;

    /// <summary>
    /// True while the kernel may still read or write memory this ring's I/O points at: SQEs are in flight, or
    /// <see cref="Dispose"/> could not confirm that they finished (it then leaked the rings and registered buffers
    /// instead of freeing them, and this stays true). A caller that sees it true after Dispose must not free the
    /// buffers of its own non-registered I/O either: <see cref="AlignedBuffer.Leak"/> them. Readable after Dispose.
    /// </summary>
    public bool KernelMayOwnMemory => _leaked || _inFlight != 0;

    /// <summary>CQEs the kernel could not post and dropped (zero with IORING_FEAT_NODROP unless memory ran out).</summary>
    public uint CqOverflowCount => Volatile.Read(ref *_cqOverflow);

    public int RegisteredBufferCount => _registeredBuffers.Count;

    /// <summary>For tests: the ring's raw fd, and whether the SQPOLL thread sleeps (IORING_SQ_NEED_WAKEUP).</summary>
    internal int RawRingFd => (int)_ringFd.DangerousGetHandle();

    internal bool SqThreadSleeping => (Volatile.Read(ref *_sqFlags) & (uint)IoUringSqRingFlags.NeedWakeup) != 0;

    /// <summary>Completions ready to be reaped without a syscall.</summary>
    private uint CqReady => Volatile.Read(ref *_cqTail) - *_cqHead;

    /// <summary>The next free SQE, or null when the SQ is full (submit, then reap). The caller fills it with a <see cref="Sqe"/> preparer.</summary>
    /// <remarks>Inlined: the benchmark loop calls it once per I/O (a call through a stub cost ~30 instructions).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public IoUringSqe* GetSqe()
    {
        // With SQPOLL the kernel thread advances the head concurrently; acquire pairs with its release store.
        uint head = Volatile.Read(ref *_sqHead);
        if (_sqeTail - head >= SqEntries)
        {
            return null;
        }
        var sqe = (IoUringSqe*)(_sqes + ((nuint)(_sqeTail & _sqMask) << _sqeShift));
        _sqeTail++;
        return sqe;
    }

    /// <summary>
    /// The next <paramref name="count"/> SQEs at once, as <see cref="GetSqe"/> would hand them out one by one (one
    /// look at the head, one tail update), or an empty view when the SQ has not that much room. Every SQE of the view
    /// is the caller's to fill before the next submit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public IoUringSqes GetSqes(int count)
    {
        uint head = Volatile.Read(ref *_sqHead); // acquire, as in GetSqe
        uint tail = _sqeTail;
        if (count <= 0 || (uint)count > SqEntries - (tail - head))
        {
            return default;
        }
        _sqeTail = tail + (uint)count;
        return new IoUringSqes(_sqes, tail, (uint)count, _sqMask, _sqeShift);
    }

    /// <summary>Like <see cref="GetSqe"/>, but a full SQ is an error (for callers that reap before they prepare).</summary>
    public IoUringSqe* GetSqeOrThrow()
    {
        IoUringSqe* sqe = GetSqe();
        if (sqe == null)
        {
            throw new InvalidOperationException($"The submission queue is full ({SqEntries} entries): submit and reap completions first.");
        }
        return sqe;
    }

    /// <summary>Submits every prepared SQE; returns how many the kernel took in this call.</summary>
    public int Submit() => SubmitAndWait(0);

    /// <summary>
    /// Submits every prepared SQE and waits until at least <paramref name="waitNr"/> completions are available
    /// (at most one io_uring_enter, none when nothing needs it). Returns how many SQEs the kernel took; 0 when it
    /// answered EBUSY/EAGAIN because completions must be reaped first, or a signal interrupted the wait.
    /// </summary>
    /// <remarks>
    /// Inlined, with <see cref="SubmitAndGetEvents"/> and the io_uring_enter P/Invoke, into the benchmark loop: the
    /// loop then pays for the GC transition of the syscall only, not for three calls and a P/Invoke frame set-up.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SubmitAndWait(uint waitNr)
    {
        if (_disposed) ThrowDisposed();
        return SubmitAndGetEvents(waitNr, null, "io_uring_enter");
    }

    /// <summary>Copies the next completion without a syscall and consumes it. False when the CQ is empty.</summary>
    public bool TryPeekCompletion(out IoUringCqe cqe)
    {
        uint head = *_cqHead; // only this thread writes the head
        // Acquire: the kernel writes the CQE, then store-releases the tail, so the CQE is complete once we see the tail.
        uint tail = Volatile.Read(ref *_cqTail);
        if (head == tail)
        {
            cqe = default;
            return false;
        }
        cqe = *(IoUringCqe*)(_cqes + ((nuint)(head & _cqMask) << _cqeShift));
        // Release: the kernel may reuse the slot only after our copy of it is done.
        Volatile.Write(ref *_cqHead, head + 1);
        _inFlight--;
        return true;
    }

    /// <summary>
    /// Like <see cref="TryPeekCompletion"/>, with the whole 32-byte CQE (big_cqe included). Only on an
    /// IORING_SETUP_CQE32 ring: a 16-byte ring has no big_cqe to return.
    /// </summary>
    public bool TryPeekCompletion32(out IoUringCqe32 cqe)
    {
        ThrowIfNotCqe32();
        uint head = *_cqHead;
        uint tail = Volatile.Read(ref *_cqTail); // acquire, as in TryPeekCompletion
        if (head == tail)
        {
            cqe = default;
            return false;
        }
        cqe = *(IoUringCqe32*)(_cqes + ((nuint)(head & _cqMask) << _cqeShift));
        Volatile.Write(ref *_cqHead, head + 1); // release, as in TryPeekCompletion
        _inFlight--;
        return true;
    }

    /// <summary>Copies up to <c>destination.Length</c> completions without a syscall, consuming them with one head update.</summary>
    public int PeekCompletions(Span<IoUringCqe> destination)
    {
        uint head = *_cqHead;
        uint tail = Volatile.Read(ref *_cqTail); // acquire, as in TryPeekCompletion
        int n = (int)Math.Min(tail - head, (uint)destination.Length);
        for (int i = 0; i < n; i++)
        {
            destination[i] = *(IoUringCqe*)(_cqes + ((nuint)((head + (uint)i) & _cqMask) << _cqeShift));
        }
        if (n > 0)
        {
            Volatile.Write(ref *_cqHead, head + (uint)n); // release, as in TryPeekCompletion
            _inFlight -= n;
        }
        return n;
    }

    /// <summary>
    /// The completions ready now, in place in the CQ ring, without a copy or a syscall (liburing's
    /// io_uring_for_each_cqe): read them, then hand the slots back with <see cref="AdvanceCompletions"/>. The tail is
    /// load-acquired here, so every CQE in the view is complete; the kernel may reuse the slots only after the
    /// head's store-release in AdvanceCompletions, so a CQE must not be read after that. 16-byte view of each CQE
    /// (on a CQE32 ring, its first half). Valid while the ring is not disposed; single-threaded like the ring.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public IoUringCompletions PeekCompletionsInPlace()
    {
        uint head = *_cqHead; // only this thread writes the head
        uint tail = Volatile.Read(ref *_cqTail); // acquire, as in TryPeekCompletion
        return new IoUringCompletions(_cqes, head, tail - head, _cqMask, _cqeShift);
    }

    /// <summary>Consumes every completion of <paramref name="completions"/> (from <see cref="PeekCompletionsInPlace"/>) with one head update.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AdvanceCompletions(in IoUringCompletions completions)
    {
        uint n = (uint)completions.Count;
        if (n == 0) return;
        Volatile.Write(ref *_cqHead, completions.Head + n); // release: the kernel may reuse the slots only now
        _inFlight -= n;
    }

    /// <summary>Like <see cref="PeekCompletions(Span{IoUringCqe})"/>, with whole 32-byte CQEs; only on an IORING_SETUP_CQE32 ring.</summary>
    public int PeekCompletions(Span<IoUringCqe32> destination)
    {
        ThrowIfNotCqe32();
        uint head = *_cqHead;
        uint tail = Volatile.Read(ref *_cqTail);
        int n = (int)Math.Min(tail - head, (uint)destination.Length);
        for (int i = 0; i < n; i++)
        {
            destination[i] = *(IoUringCqe32*)(_cqes + ((nuint)((head + (uint)i) & _cqMask) << _cqeShift));
        }
        if (n > 0)
        {
            Volatile.Write(ref *_cqHead, head + (uint)n);
            _inFlight -= n;
        }
        return n;
    }

    /// <summary>
    /// Submits what is prepared and waits until at least <paramref name="minComplete"/> completions are ready, or
    /// the timeout passes (then false). A null (or infinite) timeout waits as long as the kernel takes. The timeout is
    /// a deadline: the wait ends there whatever io_uring_enter answers (an SQPOLL ring's enter reports the SQEs it
    /// was given, never -ETIME, once there are SQEs in the ring).
    /// </summary>
    public bool WaitCompletions(uint minComplete, TimeSpan? timeout = null)
    {
        ThrowIfDisposed();
        if (timeout is null || timeout == Timeout.InfiniteTimeSpan)
        {
            while (CqReady < minComplete)
            {
                SubmitAndGetEvents(minComplete - CqReady, null, "io_uring_enter");
            }
            return true;
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout.Value, TimeSpan.Zero, nameof(timeout));
        if ((Features & IoUringFeatures.ExtArg) == 0)
        {
            throw new IoUringException(Errno.EOPNOTSUPP, IoOperationKind.RingEnter, "io_uring_enter", "Waiting with a timeout needs IORING_FEAT_EXT_ARG (Linux 5.11).");
        }
        return WaitUntil(minComplete, Stopwatch.GetTimestamp() + ToStopwatchTicks(timeout.Value), "io_uring_enter");
    }

    /// <summary>Blocks for one completion and consumes it.</summary>
    public IoUringCqe WaitCompletion()
    {
        ThrowIfDisposed();
        IoUringCqe cqe;
        while (!TryPeekCompletion(out cqe))
        {
            SubmitAndGetEvents(1, null, "io_uring_enter");
        }
        return cqe;
    }

    /// <summary>Blocks for one completion and consumes it, whole (32 bytes); only on an IORING_SETUP_CQE32 ring.</summary>
    public IoUringCqe32 WaitCompletion32()
    {
        ThrowIfDisposed();
        IoUringCqe32 cqe;
        while (!TryPeekCompletion32(out cqe))
        {
            SubmitAndGetEvents(1, null, "io_uring_enter");
        }
        return cqe;
    }

    /// <summary>Registers native buffers for READ_FIXED / WRITE_FIXED / URING_CMD with IORING_URING_CMD_FIXED; index i is buffers[i].</summary>
    public void RegisterBuffers(ReadOnlySpan<AlignedBuffer> buffers)
    {
        ThrowIfDisposed();
        if (_registeredBuffers.Count != 0)
        {
            throw new InvalidOperationException("Buffers are already registered with this ring; unregister them first.");
        }
        if (buffers.Length == 0 || buffers.Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(buffers), buffers.Length, "Register between 1 and 65535 buffers.");
        }
        IoVec[] iovecs = new IoVec[buffers.Length];
        var refs = new List<AlignedBuffer>(buffers.Length);
        try
        {
            for (int i = 0; i < buffers.Length; i++)
            {
                bool added = false;
                buffers[i].DangerousAddRef(ref added); // the kernel pins these pages: keep them alive until the ring is gone
                refs.Add(buffers[i]);
                iovecs[i] = new IoVec { Base = buffers[i].Address, Length = (nuint)buffers[i].Length };
            }
            fixed (IoVec* v = iovecs)
            {
                Register(IoUringRegisterOp.RegisterBuffers, v, (uint)iovecs.Length, "IORING_REGISTER_BUFFERS");
            }
            _registeredBuffers.AddRange(refs);
        }
        catch
        {
            foreach (AlignedBuffer b in refs)
            {
                b.DangerousRelease();
            }
            throw;
        }
    }

    /// <summary>Unregisters the buffers; only with no I/O in flight.</summary>
    public void UnregisterBuffers()
    {
        ThrowIfDisposed();
        if (_registeredBuffers.Count == 0) return;
        if (_inFlight != 0)
        {
            throw new InvalidOperationException("Buffers cannot be unregistered while I/O is in flight.");
        }
        Register(IoUringRegisterOp.UnregisterBuffers, null, 0, "IORING_UNREGISTER_BUFFERS");
        ReleaseBufferRefs();
    }

    /// <summary>The registered buffer at <paramref name="index"/>.</summary>
    public AlignedBuffer GetRegisteredBuffer(int index) => _registeredBuffers[index];

    /// <summary>
    /// Registers files for IOSQE_FIXED_FILE; index i is files[i]. Each handle is referenced for the call, so a
    /// disposed one is refused (ObjectDisposedException) instead of registering whatever file reuses its number; once
    /// registered the kernel holds its own reference to the file.
    /// </summary>
    public void RegisterFiles(params ReadOnlySpan<SafeHandle> files)
    {
        ThrowIfDisposed();
        if (files.Length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(files), 0, "Register at least one file.");
        }
        int[] fds = new int[files.Length];
        int referenced = 0;
        try
        {
            for (; referenced < files.Length; referenced++)
            {
                bool added = false;
                files[referenced].DangerousAddRef(ref added);
                fds[referenced] = (int)files[referenced].DangerousGetHandle();
            }
            fixed (int* p = fds)
            {
                Register(IoUringRegisterOp.RegisterFiles, p, (uint)fds.Length, "IORING_REGISTER_FILES");
            }
        }
        finally
        {
            for (int i = 0; i < referenced; i++)
            {
                files[i].DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Registers the ring's own fd (IORING_REGISTER_RING_FDS, Linux 5.18) so io_uring_enter skips the fd table.
    /// False where the kernel lacks it (EINVAL); other errors throw.
    /// </summary>
    public bool TryRegisterRingFd()
    {
        ThrowIfDisposed();
        if (RingFdRegistered) return true;
        IoUringRsrcUpdate up = new() { Offset = uint.MaxValue, Data = (ulong)_ringFd.Fd }; // offset -1: the kernel picks a slot
        int r = Sys.IoUringRegister(_ringFd, (uint)IoUringRegisterOp.RegisterRingFds, &up, 1);
        if (r < 0)
        {
            Errno e = ErrnoText.Last();
            if (e == Errno.EINVAL) return false;
            throw new IoUringException(e, IoOperationKind.RingRegister, "IORING_REGISTER_RING_FDS");
        }
        _enterFd = (int)up.Offset;
        _enterFlags |= (uint)IoUringEnterFlags.RegisteredRing;
        return true;
    }

    /// <summary>Asks the kernel which opcodes it supports (IORING_REGISTER_PROBE); <see cref="IoUringKernel"/> keeps the answer.</summary>
    internal IoUringProbeResult Probe()
    {
        ThrowIfDisposed();
        int size = sizeof(IoUringProbe) + MaxProbeOps * sizeof(IoUringProbeOp);
        byte* buf = stackalloc byte[size];
        new Span<byte>(buf, size).Clear();
        Register(IoUringRegisterOp.RegisterProbe, buf, MaxProbeOps, "IORING_REGISTER_PROBE");
        var probe = (IoUringProbe*)buf;
        var ops = (IoUringProbeOp*)(buf + sizeof(IoUringProbe));
        var supported = new bool[MaxProbeOps];
        for (int i = 0; i < probe->OpsLen; i++)
        {
            supported[ops[i].Op] = (ops[i].Flags & IoUringConstants.ProbeOpSupported) != 0;
        }
        return new IoUringProbeResult(probe->LastOp, supported);
    }

    /// <summary>
    /// Drains the ring (cancels what can be cancelled, waits up to <see cref="IoUringOptions.DrainTimeout"/> for the
    /// rest), then unmaps it and releases the registered buffers. If the drain fails (an error from io_uring_enter) or
    /// cannot confirm that nothing is in flight, nothing the kernel may write is freed: the rings, the ring fd and the
    /// registered buffers are leaked, counted in <see cref="NativeMemoryLeaks"/> and traced, and
    /// <see cref="KernelMayOwnMemory"/> stays true. Never throws.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        GC.SuppressFinalize(this);
        string? failure;
        try
        {
            failure = Drain();
        }
        catch (Exception e)
        {
            failure = $"draining the ring failed ({e.Message})";
        }
        if (failure is null)
        {
            ReleaseNative();
        }
        else
        {
            Leak(failure);
        }
    }

    /// <summary>
    /// A ring abandoned without Dispose gives its fd back to the handle's own finalizer (which closes it), unless
    /// I/O is in flight: then, as in a failed drain, the kernel may still write its buffers and nothing is released.
    /// (Draining is not done here: the finalizer thread cannot enter a SINGLE_ISSUER ring.)
    /// </summary>
    ~IoUring()
    {
        if (!_disposed && _inFlight == 0 && _ringFdRef)
        {
            _ringFd.DangerousRelease();
        }
    }

    /// <summary>
    /// Cancels what the kernel can cancel and reaps until nothing is in flight, so no buffer is freed while the
    /// kernel may still write it. Block I/O cannot be cancelled; it is waited for, up to the drain timeout.
    /// Returns null when the ring is quiet, else why it could not be confirmed.
    /// </summary>
    private string? Drain()
    {
        if (_inFlight == 0 && Unsubmitted == 0) return null;
        // Prepared-but-unsubmitted SQEs are turned into NOPs so the kernel never sees a half-filled one.
        for (uint i = _sqePublished; i != _sqeTail; i++)
        {
            Sqe.PrepNop((IoUringSqe*)(_sqes + ((nuint)(i & _sqMask) << _sqeShift)), ulong.MaxValue);
        }
        bool infinite = _drainTimeout == Timeout.InfiniteTimeSpan || (Features & IoUringFeatures.ExtArg) == 0;
        long deadline = infinite ? long.MaxValue : Stopwatch.GetTimestamp() + ToStopwatchTicks(_drainTimeout);
        bool cancelQueued = false;
        while (true)
        {
            while (TryPeekCompletion(out IoUringCqe _)) { }
            if (_inFlight == 0 && Unsubmitted == 0) return null;
            IoUringSqe* cancel = cancelQueued ? null : GetSqe();
            if (cancel != null)
            {
                Sqe.PrepCancelAny(cancel, ulong.MaxValue); // once the SQ has room: everything cancellable, in one SQE
                cancelQueued = true;
            }
            if (infinite)
            {
                SubmitAndGetEvents(1, null, "io_uring_enter (drain)");
            }
            else if (!WaitUntil(1, deadline, "io_uring_enter (drain)"))
            {
                while (TryPeekCompletion(out IoUringCqe _)) { }
                if (_inFlight == 0 && Unsubmitted == 0) return null;
                return $"{_inFlight} I/O(s) still in flight after the drain timeout of {_drainTimeout.TotalSeconds:0.###} s";
            }
        }
    }

    /// <summary>Waits until <paramref name="minComplete"/> CQEs are ready or the Stopwatch deadline passes; enters at least once.</summary>
    private bool WaitUntil(uint minComplete, long deadline, string operation)
    {
        do
        {
            uint ready = CqReady;
            if (ready >= minComplete) return true;
            long left = Math.Max(0, deadline - Stopwatch.GetTimestamp());
            long ns = (long)(left * (1_000_000_000.0 / Stopwatch.Frequency));
            KernelTimespec ts = new() { Sec = ns / 1_000_000_000, Nsec = ns % 1_000_000_000 };
            IoUringGeteventsArg arg = new() { Ts = (ulong)&ts };
            SubmitAndGetEvents(minComplete - ready, &arg, operation); // -ETIME or not: the deadline decides
        }
        while (Stopwatch.GetTimestamp() < deadline);
        return CqReady >= minComplete;
    }

    /// <summary>
    /// The one way into the kernel: publishes every prepared SQE, then calls io_uring_enter only if something
    /// needs it, with the flags the rules below choose (liburing's _io_uring_get_cqe with sq_ring_needs_enter and
    /// cq_ring_needs_enter). Returns what the kernel answered (SQEs taken, 0 for EBUSY/EAGAIN/EINTR, -ETIME for an
    /// expired wait), or the SQEs published when no enter was needed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SubmitAndGetEvents(uint waitNr, IoUringGeteventsArg* arg, string operation)
    {
        uint toSubmit = Publish();
        uint flags = _enterFlags;
        bool enter = false;
        if (waitNr > 0 || CqNeedsEnter())
        {
            flags |= (uint)IoUringEnterFlags.GetEvents;
            enter = true;
        }
        if (toSubmit > 0 && SqNeedsEnter(ref flags))
        {
            enter = true;
        }
        if (!enter)
        {
            return (int)toSubmit; // SQPOLL with an awake SQ thread takes them without a syscall
        }
        if (arg != null)
        {
            flags |= (uint)IoUringEnterFlags.ExtArg;
        }
        return Enter(toSubmit, waitNr, flags, arg, arg != null ? (nuint)sizeof(IoUringGeteventsArg) : 0, operation);
    }

    /// <summary>
    /// Whether SQEs in the ring need an enter to be submitted: always without SQPOLL; with SQPOLL only when the SQ
    /// thread sleeps, and then the enter must wake it (IORING_ENTER_SQ_WAKEUP) or it never sees them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SqNeedsEnter(ref uint flags)
    {
        if (!_sqPoll) return true;
        // The SQ thread sets NEED_WAKEUP and then re-checks the tail before it sleeps; this full barrier orders our
        // tail store (in Publish) before our flags load, so that one of us always sees the other.
        Interlocked.MemoryBarrier();
        if ((Volatile.Read(ref *_sqFlags) & (uint)IoUringSqRingFlags.NeedWakeup) != 0)
        {
            flags |= (uint)IoUringEnterFlags.SqWakeup;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Whether completions need an enter (with GETEVENTS) to appear in the CQ even when nobody waits: an IOPOLL ring
    /// finds them only by polling in the kernel; CQ_OVERFLOW means completions wait in the kernel's overflow list;
    /// TASKRUN means deferred task work (completions) waits for us to enter.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool CqNeedsEnter()
    {
        if (_ioPoll && _inFlight != 0) return true;
        uint f = Volatile.Read(ref *_sqFlags);
        return (f & (uint)(IoUringSqRingFlags.CqOverflow | IoUringSqRingFlags.TaskRun)) != 0;
    }

    /// <summary>Makes every prepared SQE visible to the kernel; returns how many the kernel has not consumed yet.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Publish()
    {
        uint added = _sqeTail - _sqePublished;
        if (added != 0)
        {
            // Release: the kernel load-acquires the tail, so it sees the SQE contents written before this store.
            Volatile.Write(ref *_sqTail, _sqeTail);
            _sqePublished = _sqeTail;
            _inFlight += added;
        }
        return _sqePublished - Volatile.Read(ref *_sqHead);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Enter(uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize, string operation)
    {
        int r = Sys.IoUringEnter(_enterFd, toSubmit, minComplete, flags, arg, argSize);
        // errno is read at once, before any call that could change it (the failure path below may still need the JIT).
        return r >= 0 ? r : EnterFailed((Errno)Marshal.GetLastSystemError(), toSubmit, minComplete, flags, arg, argSize, operation);
    }

    /// <summary>What a failed io_uring_enter means (<paramref name="e"/> is its errno): retried, 0, -ETIME, or thrown.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int EnterFailed(Errno e, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize, string operation)
    {
        while (true)
        {
            switch (e)
            {
                case Errno.EINTR when arg == null:
                    break; // a signal (e.g. the runtime's thread suspension) interrupted the wait: enter again
                case Errno.EINTR:
                    return 0; // a timed wait: the caller recomputes what is left of its deadline
                case Errno.EAGAIN:
                case Errno.EBUSY:
                    return 0; // the CQ must be reaped before more can be submitted
                case Errno.ETIME:
                    return -(int)Errno.ETIME;
                default:
                    throw new IoUringException(e, IoOperationKind.RingEnter, operation);
            }
            int r = Sys.IoUringEnter(_enterFd, toSubmit, minComplete, flags, arg, argSize);
            if (r >= 0) return r;
            e = (Errno)Marshal.GetLastSystemError();
        }
    }

    private void Register(IoUringRegisterOp op, void* arg, uint nrArgs, string operation)
    {
        int r;
        do
        {
            r = Sys.IoUringRegister(_ringFd, (uint)op, arg, nrArgs);
        }
        while (r < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
        if (r < 0)
        {
            throw new IoUringException(ErrnoText.Last(), IoOperationKind.RingRegister, operation);
        }
    }

    private void ReleaseNative()
    {
        // Reverse order of creation; the registered buffers outlive the ring fd.
        _sqesMap?.Dispose();
        _cqMap?.Dispose();
        _sqMap?.Dispose();
        if (_ringFdRef) _ringFd.DangerousRelease();
        _ringFd.Dispose();
        ReleaseBufferRefs();
    }

    /// <summary>
    /// Frees nothing: the mappings stay mapped, the ring fd open (its reference is never released) and the registered
    /// buffers referenced and marked leaked, so no late completion or DMA can land in reused memory.
    /// </summary>
    private void Leak(string reason)
    {
        _leaked = true;
        int fd = (int)_ringFd.DangerousGetHandle();
        long bytes = 0;
        foreach (SafeMmapRegion? m in new[] { _sqesMap, _cqMap, _sqMap })
        {
            if (m is null) continue;
            bytes += (long)m.Length;
            m.Leak();
        }
        _ringFd.SetHandleAsInvalid();
        NativeMemoryLeaks.Record(bytes, $"io_uring fd {fd}: SQ/CQ rings and SQE array", reason);
        foreach (AlignedBuffer b in _registeredBuffers)
        {
            b.LeakBecause($"registered with io_uring fd {fd}: {reason}");
        }
        _registeredBuffers.Clear(); // the ring's references stay taken: these can never be freed
    }

    private void ReleaseBufferRefs()
    {
        foreach (AlignedBuffer b in _registeredBuffers)
        {
            b.DangerousRelease();
        }
        _registeredBuffers.Clear();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() => throw new ObjectDisposedException(GetType().FullName);

    private void ThrowIfNotCqe32()
    {
        if (CqeSize != IoUringConstants.Cqe32Size)
        {
            throw new InvalidOperationException("This ring has 16-byte CQEs; 32-byte completions need IORING_SETUP_CQE32.");
        }
    }

    private static long ToStopwatchTicks(TimeSpan t)
        => t.Ticks >= long.MaxValue / Stopwatch.Frequency ? long.MaxValue / 2 : t.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond;

    private static void Validate(IoUringOptions o, IoUringSetupFlags flags)
    {
        if (o.Entries == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(o.Entries), 0u, "A ring needs at least one SQ entry.");
        }
        if ((flags & IoUringSetupFlags.SqAff) != 0 && (flags & IoUringSetupFlags.SqPoll) == 0)
        {
            throw new ArgumentException("SqThreadCpu (IORING_SETUP_SQ_AFF) needs IORING_SETUP_SQPOLL.", nameof(o));
        }
        if ((flags & IoUringSetupFlags.DeferTaskRun) != 0 && (flags & IoUringSetupFlags.SingleIssuer) == 0)
        {
            throw new ArgumentException("IORING_SETUP_DEFER_TASKRUN needs IORING_SETUP_SINGLE_ISSUER.", nameof(o));
        }
        if (o.DrainTimeout < TimeSpan.Zero && o.DrainTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(o.DrainTimeout), o.DrainTimeout, "DrainTimeout must be positive, zero or Timeout.InfiniteTimeSpan.");
        }
        if (o.SqThreadIdleMilliseconds != 0 && (flags & IoUringSetupFlags.SqPoll) == 0)
        {
            throw new ArgumentException("SqThreadIdleMilliseconds needs IORING_SETUP_SQPOLL.", nameof(o));
        }
    }

    /// <summary>
    /// Says which part of a refused set-up the kernel objects to: each requested flag is tried alone (with the
    /// flags it depends on) on a one-entry ring, then the sizes.
    /// </summary>
    private static string? DiagnoseSetup(Errno errno, IoUringOptions o, IoUringSetupFlags flags)
    {
        switch (errno)
        {
            case Errno.EPERM:
                return "io_uring is disabled for this process (see /proc/sys/kernel/io_uring_disabled), or SQPOLL needs privileges here.";
            case Errno.ENOSYS:
                return "This kernel has no io_uring (CONFIG_IO_URING is off).";
            case Errno.ENOMEM:
                return "The kernel could not allocate the rings (locked-memory limit?); try fewer entries.";
            case Errno.EINVAL:
                break;
            default:
                return null;
        }
        for (int bit = 0; bit < 32; bit++)
        {
            var f = (IoUringSetupFlags)(1u << bit);
            if ((flags & f) == 0 || f == IoUringSetupFlags.CqSize) continue; // CQSIZE is checked with the sizes below
            IoUringSetupFlags alone = f | f switch
            {
                IoUringSetupFlags.SqAff => IoUringSetupFlags.SqPoll,
                IoUringSetupFlags.DeferTaskRun => IoUringSetupFlags.SingleIssuer,
                IoUringSetupFlags.TaskRunFlag => IoUringSetupFlags.CoopTaskRun,
                _ => IoUringSetupFlags.None,
            };
            IoUringParams p = default;
            p.Flags = (uint)alone;
            p.SqThreadCpu = (uint)(o.SqThreadCpu ?? 0);
            using var probe = new SafeFileDescriptor(); // allocated before the syscall, as in the constructor
            int fd = Sys.IoUringSetup(1, &p);
            if (fd >= 0)
            {
                probe.SetFd(fd);
                continue;
            }
            Errno e = ErrnoText.Last();
            return $"The kernel refuses {FlagName(f)} ({ErrnoText.Name(e)}).";
        }
        bool clamp = (flags & IoUringSetupFlags.Clamp) != 0;
        if (!clamp && o.Entries > 32768)
        {
            return $"{o.Entries} SQ entries exceed the kernel's limit of 32768 (IORING_MAX_ENTRIES); ask for fewer or set IORING_SETUP_CLAMP.";
        }
        if (!clamp && o.CompletionEntries != 0 && (o.CompletionEntries < o.Entries || o.CompletionEntries > 65536))
        {
            return $"{o.CompletionEntries} CQ entries must be at least the SQ entries ({o.Entries}) and at most 65536 (IORING_MAX_CQ_ENTRIES); or set IORING_SETUP_CLAMP.";
        }
        return "Each flag alone is accepted; the kernel refuses this combination of flags and sizes.";
    }

    private static string FlagName(IoUringSetupFlags f) => f switch
    {
        IoUringSetupFlags.IoPoll => "IORING_SETUP_IOPOLL",
        IoUringSetupFlags.SqPoll => "IORING_SETUP_SQPOLL",
        IoUringSetupFlags.SqAff => "IORING_SETUP_SQ_AFF",
        IoUringSetupFlags.Clamp => "IORING_SETUP_CLAMP",
        IoUringSetupFlags.AttachWq => "IORING_SETUP_ATTACH_WQ",
        IoUringSetupFlags.RDisabled => "IORING_SETUP_R_DISABLED",
        IoUringSetupFlags.SubmitAll => "IORING_SETUP_SUBMIT_ALL",
        IoUringSetupFlags.CoopTaskRun => "IORING_SETUP_COOP_TASKRUN",
        IoUringSetupFlags.TaskRunFlag => "IORING_SETUP_TASKRUN_FLAG",
        IoUringSetupFlags.Sqe128 => "IORING_SETUP_SQE128",
        IoUringSetupFlags.Cqe32 => "IORING_SETUP_CQE32",
        IoUringSetupFlags.SingleIssuer => "IORING_SETUP_SINGLE_ISSUER",
        IoUringSetupFlags.DeferTaskRun => "IORING_SETUP_DEFER_TASKRUN",
        _ => $"setup flag bit {System.Numerics.BitOperations.TrailingZeroCount((uint)f)} (unknown to this module)",
    };
}
