using System;
using System.Diagnostics;
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
/// syscall. Nothing in the loop allocates; the latency timestamps are taken once per batch, not per I/O.
/// </summary>
internal sealed unsafe class BenchmarkWorker : IDisposable
{
    private const long HighestLatencyNs = 60L * 1_000_000_000;

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
    private readonly int[] _freeSlots;
    private readonly long[] _slotPrep;
    private readonly long[] _slotSubmit;
    private readonly IoUringCqe[] _cqes;
    private readonly long[] _perSecond;
    private ulong _rng;
    private ulong _seq;

    public readonly LongHistogram Slat = new(HighestLatencyNs, 3);
    public readonly LongHistogram Clat = new(HighestLatencyNs, 3);
    public readonly LongHistogram Lat = new(HighestLatencyNs, 3);

    // Read by the controlling thread for progress; written only here.
    private long _completed;

    public BenchmarkWorker(BenchmarkOptions o, DiskGeometry geometry, int index)
    {
        _o = o;
        bool passthrough = o.Path == IoPathKind.Passthrough;
        _depth = o.QueueDepth;
        _bs = o.BlockSize;
        _shape = new IoShape(o.Path, o.Vectored, o.FixedBuffers, o.RegisteredFiles, geometry.LogicalBlockSize);
        long bufferBytes = IoRules.CheckBufferBytes(_bs, _depth, 1, IoKnob.QueueDepth);
        ulong start = (o.RangeOffset + (ulong)_bs - 1) / (ulong)_bs * (ulong)_bs;
        ulong end = o.RangeLength == 0 ? geometry.SizeBytes : Math.Min(geometry.SizeBytes, o.RangeOffset + o.RangeLength);
        _rangeStart = start;
        _rangeBlocks = end > start ? (end - start) / (ulong)_bs : 0;
        _rng = 0x9E3779B97F4A7C15UL ^ ((ulong)(index + 1) * 0xBF58476D1CE4E5B9UL);

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
            // Distinct non-zero bytes for writes, so a device that drops data is not mistaken for one that zeroes.
            _buffers.Span.Fill(0x5A);
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
        _slotPrep = new long[_depth];
        _slotSubmit = new long[_depth];
        _cqes = new IoUringCqe[Math.Max(_depth, 64)];
        int seconds = o.IoCount > 0 ? 3600 : (int)Math.Ceiling(o.Duration.TotalSeconds) + 2;
        _perSecond = new long[seconds];
    }

    public long Completed => Volatile.Read(ref _completed);
    public long WritesIssued { get; private set; }
    public long Errors { get; private set; }
    public int FirstError { get; private set; }
    public long SubmitCalls { get; private set; }
    public long Submitted { get; private set; }
    public long ReapCalls { get; private set; }
    public long Reaped { get; private set; }
    public TimeSpan UserCpu { get; private set; }
    public TimeSpan SystemCpu { get; private set; }
    public long StartTimestamp { get; private set; }
    public long EndTimestamp { get; private set; }
    public int SecondsRecorded { get; private set; }

    /// <summary>Managed bytes this thread allocated inside the I/O loop (the steady state should be 0).</summary>
    public long AllocatedBytes { get; private set; }
    public long[] PerSecond => _perSecond;

    public void Run(int cpu, long endTimestamp, StrongBox stop)
    {
        if (cpu >= 0) Pin(cpu);
        Sys.Rusage r0;
        Sys.GetRusage(Sys.RUSAGE_THREAD, &r0);

        bool latency = _o.RecordLatency;
        long ioLimit = _o.IoCount;
        long freq = Stopwatch.Frequency;
        int free = _depth;
        for (int i = 0; i < _depth; i++) _freeSlots[i] = _depth - 1 - i;
        int submitBatch = Math.Max(1, Math.Min(_o.SubmitBatch, _depth));
        uint completeBatch = (uint)Math.Max(1, Math.Min(_o.CompleteBatch, _depth));
        int* prepped = stackalloc int[submitBatch];
        long issued = 0, completed = 0, lastSecondCompleted = 0;
        long start = Stopwatch.GetTimestamp();
        long nextSecond = start + freq;
        int second = 0;
        StartTimestamp = start;
        bool stopping = false;
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (!stopping && (Volatile.Read(ref stop.Value) || (ioLimit > 0 ? issued >= ioLimit : now >= endTimestamp)))
            {
                stopping = true; // stop issuing; what is in flight is drained and counted, and so is its time
            }
            int toPrep = stopping ? 0 : Math.Min(free, submitBatch);
            if (ioLimit > 0) toPrep = (int)Math.Min(toPrep, ioLimit - issued);
            for (int i = 0; i < toPrep; i++)
            {
                int slot = _freeSlots[--free];
                Prepare(slot);
                _slotPrep[slot] = now;
                prepped[i] = slot;
            }
            issued += toPrep;
            long inFlight = _ring.InFlight + _ring.Unsubmitted;
            if (inFlight == 0) break;

            // t/io_uring's rule: while the depth has room, submit without waiting; once full, wait for a batch.
            uint wait = !stopping && free > 0 ? 0 : (uint)Math.Min(completeBatch, inFlight);
            long submitAt = latency ? Stopwatch.GetTimestamp() : 0;
            for (int i = 0; i < toPrep; i++) _slotSubmit[prepped[i]] = submitAt;
            int took = _ring.SubmitAndWait(wait);
            if (toPrep > 0)
            {
                SubmitCalls++;
                Submitted += took;
            }

            int n = _ring.PeekCompletions(_cqes);
            if (n > 0)
            {
                ReapCalls++;
                Reaped += n;
                long doneAt = latency ? Stopwatch.GetTimestamp() : 0;
                for (int i = 0; i < n; i++)
                {
                    ref readonly IoUringCqe c = ref _cqes[i];
                    int slot = (int)c.UserData;
                    if (!_shape.Succeeded(c.Res, _bs))
                    {
                        if (Errors++ == 0) FirstError = c.Res;
                    }
                    else
                    {
                        completed++;
                        if (latency)
                        {
                            Slat.RecordValue(NsBetween(_slotPrep[slot], _slotSubmit[slot]));
                            Clat.RecordValue(NsBetween(_slotSubmit[slot], doneAt));
                            Lat.RecordValue(NsBetween(_slotPrep[slot], doneAt));
                        }
                    }
                    _freeSlots[free++] = slot;
                }
                Volatile.Write(ref _completed, completed);
            }

            if (now >= nextSecond && second < _perSecond.Length)
            {
                _perSecond[second++] = completed - lastSecondCompleted;
                lastSecondCompleted = completed;
                nextSecond += freq;
            }
        }
        EndTimestamp = Stopwatch.GetTimestamp();
        AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        SecondsRecorded = second;
        Sys.Rusage r1;
        Sys.GetRusage(Sys.RUSAGE_THREAD, &r1);
        UserCpu = TimeSpan.FromMicroseconds((r1.UtimeSec - r0.UtimeSec) * 1_000_000 + r1.UtimeUsec - r0.UtimeUsec);
        SystemCpu = TimeSpan.FromMicroseconds((r1.StimeSec - r0.StimeSec) * 1_000_000 + r1.StimeUsec - r0.StimeUsec);
    }

    private static long NsBetween(long from, long to)
    {
        long ns = (long)((to - from) * (1_000_000_000.0 / Stopwatch.Frequency));
        return Math.Clamp(ns, 1, HighestLatencyNs);
    }

    private void Prepare(int slot)
    {
        // xorshift64: cheap, allocation-free, and good enough to spread offsets and to mix reads with writes.
        _rng ^= _rng << 13;
        _rng ^= _rng >> 7;
        _rng ^= _rng << 17;
        ulong block = _o.Random ? _rng % _rangeBlocks : _seq++ % _rangeBlocks;
        ulong offset = _rangeStart + block * (ulong)_bs;
        bool write = _o.Operation switch
        {
            BenchmarkOperation.Write => true,
            BenchmarkOperation.Mixed => (int)((_rng >> 40) % 100) >= _o.ReadPercent,
            _ => false,
        };
        if (write) WritesIssued++;
        byte* buf = _buffers.Pointer + (long)slot * _bs;
        IoVec* iov = _iovecs is null ? null : (IoVec*)_iovecs.Pointer + slot * IoShape.MaxIovecs;
        _shape.Prepare(_ring.GetSqe(), _ring.SqeSize, _sqeFd, write, buf, _bs, offset, iov, (ulong)slot);
    }

    private static void Pin(int cpu)
    {
        ulong* mask = stackalloc ulong[16];
        new Span<ulong>(mask, 16).Clear();
        mask[cpu / 64] = 1UL << (cpu % 64);
        ErrnoText.ThrowIfFailed(Sys.SchedSetAffinity(0, 16 * sizeof(ulong), mask), IoOperationKind.Affinity, $"sched_setaffinity(cpu {cpu})");
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
