using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;
using HdrHistogram;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Interop;
using VirtioBlk.Core.Io;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;

namespace VirtioBlk.Core.Bench;

/// <summary>
/// One thread's ring and loop, shaped like fio's t/io_uring submitter: prepare up to a submit batch while the
/// depth allows, submit and wait for a complete batch in one io_uring_enter, reap every ready CQE without a
/// syscall. Nothing in the loop allocates; timestamps are taken once per batch, not per I/O.
/// With verification, a write's slot is not freed when the write completes: it is re-issued as a read of the same
/// offset into the slot's read-back half of the buffer, and checked (<see cref="BlockVerifier"/>) when that completes.
/// </summary>
internal sealed unsafe class BenchmarkWorker : IDisposable
{
    private const long HighestLatencyNs = 60L * 1_000_000_000;
    private const byte KindRead = 0, KindWrite = 1, KindReadBack = 2;

    private readonly BenchmarkOptions _o;
    private readonly SafeFileDescriptor _fd;
    private readonly IoUring _ring;
    private readonly AlignedBuffer _buffers;
    private readonly AlignedBuffer? _iovecs;
    private readonly int _sqeFd;
    private readonly IoShape _shape;
    private readonly int _depth;
    private readonly int _bs;
    private readonly ulong _rangeStart;
    private readonly ulong _rangeBlocks;
    private readonly bool _verifyWrites;
    private readonly bool _checks;
    private readonly byte* _readBack;
    private readonly int[] _freeSlots;
    private readonly int[] _pendingReadBacks;
    private readonly long[] _slotPrep;
    private readonly long[] _slotSubmit;
    private readonly ulong[] _slotOffset;
    private readonly ulong[] _slotGeneration;
    private readonly byte[] _slotKind;
    private readonly IoUringCqe[] _cqes;
    private readonly long[] _perSecond;
    private readonly BenchmarkMismatch[] _mismatches;
    private readonly double _nsPerTick = 1_000_000_000.0 / Stopwatch.Frequency;
    private readonly bool _ticksAreNs = Stopwatch.Frequency == 1_000_000_000;
    private readonly int _index;

    // The knobs the per-I/O code reads, copied out of the options record once (the JIT cannot keep them in
    // registers across the calls of the loop).
    private readonly BenchmarkPattern _pattern;
    private readonly BenchmarkOperation _operation;
    private readonly int _readPercent;
    private readonly ulong _seed;
    private readonly BenchmarkBuffer _buffer;

    // Addresses and sizes fixed for the worker's life, read once: AlignedBuffer.Pointer checks for disposal on every
    // call and is not inlined, which cost ~15 instructions and a call per I/O (callgrind, bench/Count-Instructions.sh).
    private readonly byte* _bufferBase;
    private readonly IoVec* _iovecBase;
    private readonly int _sqeSize;

    // A plain fresh I/O's SQE, the read's then (TemplateStride on) the write's, all but its buffer, offset and user
    // data (IoShape.PreparePlainTemplate): copied per I/O instead of built from the shape's fields. Not memory the
    // kernel sees; on the pinned heap so its address holds.
    private const int TemplateStride = 128;
    private readonly byte[] _sqeTemplates;
    private readonly byte* _templates;
    private ulong _rng;
    private ulong _seq;
    private ulong _pass;
    private long _writes;
    private readonly bool _plainPrepare; // fresh I/Os need no call: a shape without iovecs, no verified writes
    private readonly bool _plainReap;    // completions need no call: no checks, no latency
    private readonly bool _readsOnly;    // Read or Verify: no I/O of the run writes
    private int _free;     // free slots: the top of _freeSlots
    private int _pending;  // verified writes whose read-back is yet to be prepared: the top of _pendingReadBacks

    public readonly LongHistogram Slat = new(HighestLatencyNs, 3);
    public readonly LongHistogram Clat = new(HighestLatencyNs, 3);
    public readonly LongHistogram Lat = new(HighestLatencyNs, 3);

    // Read by the controlling thread for progress; written only here.
    private long _completed;

    public BenchmarkWorker(BenchmarkOptions o, DiskGeometry geometry, int index)
    {
        _o = o;
        _index = index;
        _pattern = o.Pattern;
        _operation = o.Operation;
        _readPercent = o.ReadPercent;
        _seed = o.Seed;
        _buffer = o.Buffer;
        bool passthrough = o.Path == IoPathKind.Passthrough;
        _depth = o.QueueDepth;
        _bs = o.BlockSize;
        _verifyWrites = o.Verify && o.Operation == BenchmarkOperation.Write;
        _checks = o.Verifies;
        _shape = new IoShape(o.Path, o.Vectored, o.FixedBuffers, o.RegisteredFiles, geometry.LogicalBlockSize);
        _plainPrepare = _shape.IsPlain && !_verifyWrites && !_checks;
        _plainReap = !_checks && !o.RecordLatency;
        _readsOnly = o.Operation is BenchmarkOperation.Read or BenchmarkOperation.Verify;
        long bufferBytes = IoRules.CheckBufferBytes(_verifyWrites ? 2L * _bs : _bs, _depth, 1, IoKnob.QueueDepth);
        (_rangeStart, _rangeBlocks) = BenchmarkEngine.SliceOf(o, geometry, index);
        _rng = BlockVerifier.Mix(o.Seed ^ ((ulong)(index + 1) * 0x9E3779B97F4A7C15UL)) | 1;

        int flags = (o.Writes ? Sys.O_RDWR : Sys.O_RDONLY) | (!passthrough && o.Direct ? Sys.O_DIRECT : 0);
        _fd = SafeFileDescriptor.Open(o.DevicePath, flags);
        try
        {
            IoUringSetupFlags rf = _shape.RingFlags
                | (o.Poll ? IoUringSetupFlags.IoPoll : 0)
                // Without SQPOLL: no IPI per completion (COOP_TASKRUN) -- the loop enters the kernel every round anyway,
                // where the task work runs. Measured on a loop device at QD32: about +20% IOPS. (SQPOLL forbids these.)
                | (o.SqPoll
                    ? IoUringSetupFlags.SqPoll
                    : IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.CoopTaskRun | IoUringSetupFlags.TaskRunFlag);
            // The ring is made on the worker thread itself (SINGLE_ISSUER binds it to its creator).
            _ring = new IoUring(new IoUringOptions { Entries = (uint)_depth, Flags = rf });
            _buffers = new AlignedBuffer((int)bufferBytes);
            FillOnce(_buffers.Span.Slice(0, _depth * _bs));
            _readBack = _verifyWrites ? _buffers.Pointer + (long)_depth * _bs : null;
            if (o.Vectored) _iovecs = new AlignedBuffer(_depth * IoShape.MaxIovecs * sizeof(IoVec));
            if (o.FixedBuffers) _ring.RegisterBuffers(new[] { _buffers });
            if (o.RegisteredFiles)
            {
                _ring.RegisterFiles(_fd);
                _sqeFd = 0;
            }
            else
            {
                _sqeFd = _fd.Fd;
            }
            if (o.RegisteredRing) _ring.TryRegisterRingFd();
            _bufferBase = _buffers.Pointer;
            _iovecBase = _iovecs is null ? null : (IoVec*)_iovecs.Pointer;
            _sqeSize = _ring.SqeSize;
            _sqeTemplates = GC.AllocateArray<byte>(2 * TemplateStride, pinned: true);
            _templates = (byte*)Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_sqeTemplates));
            if (_shape.IsPlain)
            {
                _shape.PreparePlainTemplate(_templates, _sqeFd, write: false, _bs);
                _shape.PreparePlainTemplate(_templates + TemplateStride, _sqeFd, write: true, _bs);
            }
        }
        catch
        {
            _ring?.Dispose();
            _buffers?.Dispose();
            _iovecs?.Dispose();
            _fd.Dispose();
            throw;
        }
        _freeSlots = new int[_depth];
        _pendingReadBacks = new int[_depth];
        _slotPrep = new long[_depth];
        _slotSubmit = new long[_depth];
        _slotOffset = new ulong[_depth];
        _slotGeneration = new ulong[_depth];
        _slotKind = new byte[_depth];
        _cqes = new IoUringCqe[Math.Max(_depth, 64)];
        int seconds = o.IoCount > 0 || o.OnePass ? 3600 : (int)Math.Ceiling(o.Duration.TotalSeconds) + 2;
        _perSecond = new long[seconds];
        _mismatches = new BenchmarkMismatch[Math.Max(0, o.MaxMismatchesReported)];
    }

    public long Completed => Volatile.Read(ref _completed);
    public long WritesIssued { get; private set; }
    public long Errors { get; private set; }
    public int FirstError { get; private set; }

    /// <summary>A completion failed with ENODEV/ENXIO (<see cref="IoShape.IsNoDevice"/>): this worker stopped issuing.</summary>
    public bool SawNoDevice { get; private set; }
    public long SubmitCalls { get; private set; }
    public long Submitted { get; private set; }
    public long ReapCalls { get; private set; }
    public long Reaped { get; private set; }
    public TimeSpan UserCpu { get; private set; }
    public TimeSpan SystemCpu { get; private set; }

    /// <summary>When this thread's measured part began (the end of the ramp) and ended (the last completion reaped).</summary>
    public long StartTimestamp { get; private set; }
    public long EndTimestamp { get; private set; }

    /// <summary>Completions reaped after the ramp: the I/Os every figure counts.</summary>
    public long MeasuredIos { get; private set; }

    /// <summary>Per-second samples this thread filled, the last one possibly partial.</summary>
    public int SecondsRecorded { get; private set; }

    /// <summary>Blocks read back (or read, in a verify pass) and checked, ramp included.</summary>
    public long BlocksChecked { get; private set; }

    /// <summary>Checked blocks that did not hold what they should, ramp included.</summary>
    public long Mismatches { get; private set; }

    public ReadOnlySpan<BenchmarkMismatch> MismatchDetails => _mismatches.AsSpan(0, (int)Math.Min(Mismatches, _mismatches.Length));

    /// <summary>Managed bytes this thread allocated inside the I/O loop (the steady state should be 0).</summary>
    public long AllocatedBytes { get; private set; }
    public long[] PerSecond => _perSecond;

    /// <summary>The blocks this thread works on: its slice of the range (the whole range unless the run verifies).</summary>
    public ulong RangeBlocks => _rangeBlocks;

    /// <summary>
    /// Runs the loop. <paramref name="goTimestamp"/> is when all threads were released, <paramref name="measureFrom"/>
    /// the end of the ramp (figures count only completions reaped from then on) and <paramref name="endTimestamp"/>
    /// when a timed run stops issuing. All three are Stopwatch timestamps shared by every thread, so the per-second
    /// samples of all threads fall into the same seconds.
    /// </summary>
    /// <remarks>
    /// The loop runs once per thread for the whole run, so with tiered compilation (the default) it would start as
    /// tier-0 code and live on in OSR code: it (<see cref="RunLoop{TMode}"/>) and its two per-I/O parts (<see cref="PrepareFresh"/> and
    /// <see cref="Reap"/>) are compiled fully optimised at once instead (AggressiveOptimization), with the ring's
    /// hot paths (<see cref="IoUring.GetSqe"/>, <see cref="IoShape.Prepare"/>, <see cref="IoUring.SubmitAndWait"/>
    /// down to the io_uring_enter P/Invoke, the in-place CQE view) inlined. The per-I/O parts are methods of their
    /// own so that their few hot values stay in registers; what only verification, latency recording or errors need
    /// is out of line.
    /// </remarks>
    public void Run(int cpu, long goTimestamp, long measureFrom, long endTimestamp, StrongBox stop)
    {
        if (cpu >= 0) Pin(cpu);
        // Lean: none of latency, rate, verification or non-plain SQEs (see ILoopMode).
        if (_plainPrepare && _plainReap && _o.RateIops <= 0) RunLoop<LeanLoop>(goTimestamp, measureFrom, endTimestamp, stop);
        else RunLoop<FullLoop>(goTimestamp, measureFrom, endTimestamp, stop);
    }

    /// <summary>
    /// Whether <see cref="RunLoop{TMode}"/> is compiled for the lean case: plain preparation and reaping, no
    /// latency, rate or verification (chosen in <see cref="Run"/>). The loop body is one; in the
    /// lean copy the branches of those features fold away, and with fewer live values the JIT keeps the round's
    /// state in registers instead of on the stack (a value type argument gets code of its own).
    /// </summary>
    private interface ILoopMode
    {
        static abstract bool Lean { get; }
    }

    private struct LeanLoop : ILoopMode
    {
        public static bool Lean => true;
    }

    private struct FullLoop : ILoopMode
    {
        public static bool Lean => false;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private void RunLoop<TMode>(long goTimestamp, long measureFrom, long endTimestamp, StrongBox stop) where TMode : struct, ILoopMode
    {
        Sys.Rusage r0 = default;

        IoUring ring = _ring;
        bool latency = !TMode.Lean && _o.RecordLatency;
        long ioLimit = _o.OnePass ? (long)_rangeBlocks : _o.IoCount;
        bool limited = ioLimit > 0;
        long freq = Stopwatch.Frequency;
        double ratePerTick = _o.RateIops > 0 ? (double)_o.RateIops / _o.Threads / freq : 0;
        bool rated = !TMode.Lean && ratePerTick > 0;
        _free = _depth;
        for (int i = 0; i < _depth; i++) _freeSlots[i] = _depth - 1 - i;
        _pending = 0;
        int submitBatch = Math.Max(1, Math.Min(_o.SubmitBatch, _depth));
        uint completeBatch = (uint)Math.Max(1, Math.Min(_o.CompleteBatch, _depth));
        int* prepped = stackalloc int[submitBatch];
        delegate*<BenchmarkWorker, int, void> prepare = FreshPreparer();
        long issued = 0, issuedBeforeMeasure = 0, completed = 0, measured = 0;
        long submitCalls0 = 0, submitted0 = 0, reapCalls0 = 0, reaped0 = 0, writes0 = 0;
        int lastSecond = -1; // the second the last measured completions fell in
        long nextSecondAt = measureFrom, lastDoneAt = 0;
        bool measuring = false, stopping = false;
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long end = endTimestamp;
        // One clock read per round, taken when the round's completions are reaped: it dates them and is the next
        // round's "now" (the bookkeeping between the two is a few hundred nanoseconds). Recording latency reads the
        // clock again before preparing, so that submission latency does not include the last round's reaping.
        long now = Stopwatch.GetTimestamp();

        while (true)
        {
            if (latency) now = Stopwatch.GetTimestamp();
            if (!measuring && now >= measureFrom)
            {
                // The ramp is over: everything counted so far is forgotten (errors and mismatches are not).
                measuring = true;
                StartTimestamp = measureFrom;
                issuedBeforeMeasure = issued;
                submitCalls0 = SubmitCalls; submitted0 = Submitted; reapCalls0 = ReapCalls; reaped0 = Reaped; writes0 = _writes;
                ResetHistograms();
                Sys.GetRusage(Sys.RUSAGE_THREAD, &r0);
            }
            if (!stopping && (Volatile.Read(ref stop.Value) || SawNoDevice
                || (limited ? measuring && issued - issuedBeforeMeasure >= ioLimit : now >= end)))
            {
                stopping = true; // stop issuing; what is in flight is drained and counted, and so is its time
                // The device is gone: every thread stops (see IoShape.IsNoDevice), and the engine says why.
                if (SawNoDevice) Volatile.Write(ref stop.Value, true);
            }

            // Read-backs of verified writes first: they are part of the write, not new I/O (no limit, no rate).
            int toPrep = !TMode.Lean && _pending > 0 ? PrepareReadBacks(submitBatch, now, prepped) : 0;
            int free = _free;
            int fresh = stopping ? 0 : Math.Min(free, submitBatch - toPrep);
            if (limited && measuring) fresh = (int)Math.Min(fresh, ioLimit - (issued - issuedBeforeMeasure));
            bool throttled = false;
            if (rated && fresh > 0)
            {
                long allowed = (long)((now - goTimestamp) * ratePerTick) + 1 - issued;
                if (allowed < fresh)
                {
                    fresh = (int)Math.Max(0, allowed);
                    throttled = true;
                }
            }
            if (fresh > 0)
            {
                prepare(this, fresh);
                if (latency)
                {
                    // The slots just taken are still in _freeSlots, above the new top.
                    for (int i = free - 1; i >= free - fresh; i--)
                    {
                        int slot = _freeSlots[i];
                        _slotPrep[slot] = now;
                        prepped[toPrep + (free - 1 - i)] = slot;
                    }
                }
                toPrep += fresh;
                issued += fresh;
                free -= fresh;
            }
            long inFlight = ring.InFlight + ring.Unsubmitted;
            if (inFlight == 0)
            {
                if (stopping) break;
                if (throttled) SleepForToken(issued, ratePerTick, goTimestamp);
                now = Stopwatch.GetTimestamp();
                continue;
            }

            // t/io_uring's rule: while the depth has room, submit without waiting; once full (or held back by the
            // rate), wait for a batch.
            uint wait = !stopping && free > 0 && !throttled ? 0 : (uint)Math.Min(throttled ? 1 : completeBatch, inFlight);
            if (latency)
            {
                long submitAt = Stopwatch.GetTimestamp();
                for (int i = 0; i < toPrep; i++) _slotSubmit[prepped[i]] = submitAt;
            }
            int took = ring.SubmitAndWait(wait);
            now = Stopwatch.GetTimestamp();
            if (toPrep > 0)
            {
                SubmitCalls++;
                Submitted += took;
            }

            // The ready CQEs are read where the kernel put them, then handed back with one head update.
            IoUringCompletions cqes = ring.PeekCompletionsInPlace();
            int n = cqes.Count;
            if (n > 0)
            {
                ReapCalls++;
                Reaped += n;
                long doneAt = now;
                bool count = measuring && doneAt >= measureFrom;
                long good = TMode.Lean || _plainReap ? ReapPlain(cqes) : ReapAny(cqes, latency && count ? doneAt : 0, stop);
                ring.AdvanceCompletions(cqes);
                completed += good;
                Volatile.Write(ref _completed, completed);
                if (count && good > 0)
                {
                    // Each completion lands in the second it was reaped in, counted once; the last second may be partial.
                    // The clock only goes forward, so the second changes only when a boundary is passed: a compare per
                    // round, the division once a second.
                    if (doneAt >= nextSecondAt)
                    {
                        lastSecond = (int)Math.Min((doneAt - measureFrom) / freq, _perSecond.Length - 1);
                        nextSecondAt = lastSecond == _perSecond.Length - 1 ? long.MaxValue : measureFrom + (lastSecond + 1) * freq;
                    }
                    _perSecond[lastSecond] += good;
                    measured += good;
                    lastDoneAt = doneAt;
                }
            }
        }
        EndTimestamp = lastDoneAt;
        if (!measuring)
        {
            // Stopped inside the ramp: nothing was measured.
            StartTimestamp = EndTimestamp = measureFrom;
            issuedBeforeMeasure = issued;
            submitCalls0 = SubmitCalls; submitted0 = Submitted; reapCalls0 = ReapCalls; reaped0 = Reaped; writes0 = _writes;
            ResetHistograms();
            Sys.GetRusage(Sys.RUSAGE_THREAD, &r0);
        }
        else if (EndTimestamp < StartTimestamp)
        {
            EndTimestamp = StartTimestamp;
        }
        AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        MeasuredIos = measured;
        SecondsRecorded = lastSecond + 1;
        SubmitCalls -= submitCalls0; Submitted -= submitted0; ReapCalls -= reapCalls0; Reaped -= reaped0;
        WritesIssued = _writes - writes0;
        Sys.Rusage r1;
        Sys.GetRusage(Sys.RUSAGE_THREAD, &r1);
        UserCpu = TimeSpan.FromMicroseconds((r1.UtimeSec - r0.UtimeSec) * 1_000_000 + r1.UtimeUsec - r0.UtimeUsec);
        SystemCpu = TimeSpan.FromMicroseconds((r1.StimeSec - r0.StimeSec) * 1_000_000 + r1.StimeUsec - r0.StimeUsec);
    }

    /// <summary>
    /// The compiled copy of <see cref="PrepareFresh"/> for this worker's knobs: one indirect call per round instead of
    /// a chain of tests.
    /// </summary>
    private delegate*<BenchmarkWorker, int, void> FreshPreparer()
    {
        if (!_plainPrepare) return &PrepareFreshAny;
        bool random = _pattern == BenchmarkPattern.Random, command = _shape.PlainCommand;
        return (random, _readsOnly, command) switch
        {
            (true, true, false) => &PrepareFreshRandomReads,
            (true, false, false) => &PrepareFreshRandom,
            (false, true, false) => &PrepareFreshSequentialReads,
            (false, false, false) => &PrepareFreshSequential,
            (true, true, true) => &PrepareFreshRandomReadsCommand,
            (true, false, true) => &PrepareFreshRandomCommand,
            (false, true, true) => &PrepareFreshSequentialReadsCommand,
            (false, false, true) => &PrepareFreshSequentialCommand,
        };
    }

    // Takes `fresh` free slots and prepares a new I/O in each, into the SQ (not submitted): the plain copies by knob
    // (pattern, reads only, passthrough command) and the general one.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshRandomReads(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: true, readsOnly: true, command: false);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshRandom(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: true, readsOnly: false, command: false);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshSequentialReads(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: false, readsOnly: true, command: false);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshSequential(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: false, readsOnly: false, command: false);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshRandomReadsCommand(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: true, readsOnly: true, command: true);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshRandomCommand(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: true, readsOnly: false, command: true);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshSequentialReadsCommand(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: false, readsOnly: true, command: true);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshSequentialCommand(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: true, random: false, readsOnly: false, command: true);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void PrepareFreshAny(BenchmarkWorker w, int fresh) => w.PrepareFresh(fresh, plain: false, w._pattern == BenchmarkPattern.Random, w._readsOnly, command: false);

    /// <summary>
    /// Takes <paramref name="fresh"/> free slots and prepares a new I/O in each, into the SQ (not submitted). The
    /// state it advances (offset generator, free-slot top, write count) is in locals for the batch and written back.
    /// </summary>
    /// <remarks>
    /// Compiled nine times: with <paramref name="plain"/> true (see <see cref="_plainPrepare"/>) and each of
    /// <paramref name="random"/>, <paramref name="readsOnly"/> and <paramref name="command"/> as constants, the knobs'
    /// branches fold away, and with no call in the loop its values stay in registers (x86-64 keeps only five across a
    /// call). <paramref name="command"/> is the shape's path, read only by the plain case.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrepareFresh(int fresh, bool plain, bool random, bool readsOnly, bool command)
    {
        // All the SQEs of the batch at once: at most the depth is in flight and the SQ has that many entries.
        IoUringSqes sqes = _ring.GetSqes(fresh);
        if (sqes.Count != fresh) ThrowSqFull();
        IoShape shape = _shape;
        int[] freeSlots = _freeSlots;
        byte* bufferBase = _bufferBase;
        IoVec* iovecBase = _iovecBase;
        byte* templates = _templates;
        int bs = _bs, sqeSize = _sqeSize, sqeFd = _sqeFd;
        ulong rangeStart = _rangeStart, rangeBlocks = _rangeBlocks, blockBytes = (uint)bs; // unsigned: no sign extensions per I/O
        bool checks = !plain && _checks;
        bool allWrites = _operation == BenchmarkOperation.Write, mixed = _operation == BenchmarkOperation.Mixed;
        ulong rng = _rng, seq = _seq, pass = _pass;
        int free = _free;
        long writes = _writes;
        for (int i = 0; i < fresh; i++)
        {
            int slot = freeSlots[--free];

            // xorshift64: cheap, allocation-free, and good enough to spread offsets and to mix reads with writes.
            ulong x = rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rng = x;
            ulong block;
            ulong blockPass = pass;
            if (random)
            {
                block = MulHigh(x, rangeBlocks); // x * blocks / 2^64: a uniform block without a division
            }
            else
            {
                block = seq;
                if (++seq == rangeBlocks)
                {
                    seq = 0;
                    pass++;
                }
            }
            ulong offset = rangeStart + block * blockBytes;
            bool write = !readsOnly && (allWrites || (mixed && (int)((x >> 40) % 100) >= _readPercent));
            byte* buf = bufferBase + (uint)slot * blockBytes;
            if (write)
            {
                writes++;
                // Sequential passes are generations 1, 2, ...; random writes all carry generation 1, so two writes of
                // one block in flight at once write the same bytes and a read-back cannot catch a legitimate race.
                if (!plain && _verifyWrites) FillForVerify(slot, buf, offset, random ? 1 : blockPass + 1);
            }
            if (checks)
            {
                // Only a checked block needs to be remembered: what it was and where.
                _slotKind[slot] = write ? KindWrite : KindRead;
                _slotOffset[slot] = offset;
            }
            if (plain)
            {
                IoShape.PreparePlainFromTemplate(sqes.UncheckedAt(i), templates + (write ? TemplateStride : 0), command, buf, offset, (uint)slot);
            }
            else
            {
                IoVec* iov = iovecBase == null ? null : iovecBase + slot * IoShape.MaxIovecs;
                shape.Prepare(sqes.UncheckedAt(i), sqeSize, sqeFd, write, buf, bs, offset, iov, (ulong)slot);
            }
        }
        _rng = rng;
        _seq = seq;
        _pass = pass;
        _free = free;
        _writes = writes;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private long ReapPlain(in IoUringCompletions cqes) => Reap(cqes, 0, null, plain: true);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private long ReapAny(in IoUringCompletions cqes, long latencyAt, StrongBox stop) => Reap(cqes, latencyAt, stop, plain: false);

    /// <summary>
    /// Judges every completion of <paramref name="cqes"/> (in place; the caller advances the CQ after), frees its
    /// slot or queues its read-back; returns how many succeeded. <paramref name="latencyAt"/> is the reap time when
    /// latency is recorded for these, else 0.
    /// </summary>
    /// <remarks>Compiled twice, like <see cref="PrepareFresh"/>: plain (<see cref="_plainReap"/>) has no call in its loop.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Reap(in IoUringCompletions cqes, long latencyAt, StrongBox? stop, bool plain)
    {
        int[] freeSlots = _freeSlots;
        int bs = _bs, ok = _shape.SuccessResult(_bs);
        bool checks = _checks;
        int free = _free;
        long good = 0;
        IoUringCompletions view = cqes; // a local copy: its fields can live in registers
        int lastBad = ok;
        int n = view.Count;
        if (plain) good = n; // less the failures
        for (int i = 0; i < n; i++)
        {
            ref readonly IoUringCqe c = ref view.UncheckedAt(i);
            int slot = (int)c.UserData;
            if (plain)
            {
                // Every slot is freed, whatever the result; the few failures are counted off the straight path.
                freeSlots[free++] = slot;
                if (c.Res != ok)
                {
                    CountFailure(c.Res);
                    lastBad = c.Res;
                    good--;
                }
                continue;
            }
            if (c.Res != ok) // _shape.Succeeded(c.Res, bs), with the answer it wants looked up once
            {
                CountFailure(c.Res);
                lastBad = c.Res;
                freeSlots[free++] = slot;
                continue;
            }
            good++;
            if (latencyAt != 0) RecordLatency(slot, latencyAt);
            if (checks)
            {
                byte kind = _slotKind[slot];
                if (kind == KindWrite)
                {
                    _pendingReadBacks[_pending++] = slot; // the slot stays taken until its read-back is checked
                    continue;
                }
                CheckBlock(slot, kind == KindReadBack, stop!);
            }
            freeSlots[free++] = slot;
        }
        _free = free;
        // Judged after the loop, which stays free of calls: after a removal every I/O fails the same way.
        if (lastBad != ok && !SawNoDevice) SawNoDevice = _shape.IsNoDevice(lastBad);
        return good;
    }

    /// <summary>A failed completion: counted, and the first one's result kept for the error record.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountFailure(int res)
    {
        if (Errors++ == 0) FirstError = res;
    }

    /// <summary>Prepares queued read-backs of verified writes, up to a submit batch; returns how many.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int PrepareReadBacks(int submitBatch, long now, int* prepped)
    {
        int toPrep = 0;
        while (_pending > 0 && toPrep < submitBatch)
        {
            int slot = _pendingReadBacks[--_pending];
            PrepareReadBack(slot);
            _slotPrep[slot] = now;
            prepped[toPrep++] = slot;
        }
        return toPrep;
    }

    /// <summary>The high half of the 128-bit product, in one instruction where there is one (no stack temporary for the low half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MulHigh(ulong a, ulong b)
    {
        if (System.Runtime.Intrinsics.X86.Bmi2.X64.IsSupported) return System.Runtime.Intrinsics.X86.Bmi2.X64.MultiplyNoFlags(a, b);
        if (System.Runtime.Intrinsics.Arm.ArmBase.Arm64.IsSupported) return System.Runtime.Intrinsics.Arm.ArmBase.Arm64.MultiplyHigh(a, b);
        return Math.BigMul(a, b, out _);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowSqFull() => throw new InvalidOperationException("The submission queue has less room than the free slots: a bookkeeping error.");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ResetHistograms()
    {
        Slat.Reset();
        Clat.Reset();
        Lat.Reset();
    }

    /// <summary>Nothing in flight and no token yet: sleeps until the next one is due (at most 1 ms a time).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SleepForToken(long issued, double ratePerTick, long goTimestamp)
    {
        long dueIn = (long)(issued / ratePerTick) + goTimestamp - Stopwatch.GetTimestamp();
        if (dueIn > 0) Thread.Sleep(TimeSpan.FromTicks(Math.Clamp(dueIn * TimeSpan.TicksPerSecond / Stopwatch.Frequency, 1, TimeSpan.TicksPerMillisecond)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordLatency(int slot, long doneAt)
    {
        long p = _slotPrep[slot], s = _slotSubmit[slot];
        Slat.RecordValue(Ns(s - p));
        Clat.RecordValue(Ns(doneAt - s));
        Lat.RecordValue(Ns(doneAt - p));
    }

    /// <summary>A verified write's bytes: the header (offset, seed, generation) and the checked payload.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FillForVerify(int slot, byte* buf, ulong offset, ulong generation)
    {
        _slotGeneration[slot] = generation;
        BlockVerifier.Fill(new Span<byte>(buf, _bs), offset, _seed, generation, _buffer);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Ns(long ticks)
    {
        long ns = _ticksAreNs ? ticks : (long)(ticks * _nsPerTick);
        return ns < 1 ? 1 : ns > HighestLatencyNs ? HighestLatencyNs : ns;
    }

    /// <summary>Buffers that are not rewritten per I/O get their bytes once, from the seed.</summary>
    private void FillOnce(Span<byte> bytes)
    {
        switch (_o.Buffer)
        {
            case BenchmarkBuffer.Zero: bytes.Clear(); break;
            case BenchmarkBuffer.Pattern: bytes.Fill(0x5A); break;
            default: BlockVerifier.FillRandom(bytes, BlockVerifier.Mix(_o.Seed ^ ((ulong)(_index + 1) << 32))); break;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PrepareReadBack(int slot)
    {
        byte* buf = _readBack + (long)slot * _bs;
        // Clear the header's room: a read that completes without moving data must not pass as the old bytes.
        new Span<byte>(buf, BlockVerifier.HeaderBytes).Clear();
        _slotKind[slot] = KindReadBack;
        IoVec* iov = _iovecBase == null ? null : _iovecBase + slot * IoShape.MaxIovecs;
        _shape.Prepare(_ring.GetSqe(), _sqeSize, _sqeFd, false, buf, _bs, _slotOffset[slot], iov, (ulong)slot);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CheckBlock(int slot, bool readBack, StrongBox stop)
    {
        byte* buf = (readBack ? _readBack : _bufferBase) + (long)slot * _bs;
        ulong offset = _slotOffset[slot];
        BlockVerdict v = BlockVerifier.Check(new ReadOnlySpan<byte>(buf, _bs), offset, _o.Seed, readBack ? _slotGeneration[slot] : 0,
            out ulong headerOffset, out ulong headerGeneration, out ulong headerSeed);
        BlocksChecked++;
        if (v == BlockVerdict.Ok) return;
        if (Mismatches < _mismatches.Length)
        {
            _mismatches[Mismatches] = new BenchmarkMismatch(offset, v, headerOffset, headerGeneration, headerSeed,
                readBack ? _slotGeneration[slot] : 0, _index);
        }
        Mismatches++;
        if (_o.StopOnMismatch) Volatile.Write(ref stop.Value, true);
    }

    private static void Pin(int cpu)
    {
        ulong* mask = stackalloc ulong[CpuMask.MaxCpus / 64];
        new Span<ulong>(mask, CpuMask.MaxCpus / 64).Clear();
        mask[cpu / 64] = 1UL << (cpu % 64);
        ErrnoText.ThrowIfFailed(Sys.SchedSetAffinity(0, CpuMask.MaxCpus / 8, mask), IoOperationKind.Affinity, $"sched_setaffinity(cpu {cpu})");
    }

    public void Dispose()
    {
        // Drain first (the ring's Dispose waits for every CQE), then the memory the kernel was using.
        _ring.Dispose();
        if (_ring.KernelMayOwnMemory)
        {
            _buffers.Leak(); // the drain could not confirm the kernel is done with them: leaked, never freed
            _iovecs?.Leak();
        }
        _buffers.Dispose();
        _iovecs?.Dispose();
        _fd.Dispose();
    }
}

/// <summary>A flag shared by the controller (sets it) and the workers (poll it).</summary>
internal sealed class StrongBox
{
    public bool Value;
}
