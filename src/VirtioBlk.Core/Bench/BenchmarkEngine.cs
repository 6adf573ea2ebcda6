using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using HdrHistogram;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;

namespace VirtioBlk.Core.Bench;

/// <summary>Live figures for a progress bar, read by the controlling thread once a second.</summary>
public readonly record struct BenchmarkProgress(TimeSpan Elapsed, long CompletedIos, double CurrentIops, double PercentComplete);

/// <summary>
/// Runs one benchmark: one ring per thread, each thread pinned to its CPU and owning its ring from creation to
/// disposal (SINGLE_ISSUER). The caller's thread only starts, watches and stops the workers; the workers never
/// call back into the caller.
/// </summary>
public static class BenchmarkEngine
{
    /// <summary>
    /// Checks the options against the disk, the kernel and the limits, before anything is opened or allocated;
    /// returns the disk's geometry. Every refusal is an <see cref="IoRequestException"/> from <see cref="IoRules"/>.
    /// </summary>
    public static DiskGeometry Validate(BenchmarkOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        DiskIdentity disk = DiskIdentity.Resolve(o.DevicePath);
        IoRules.CheckNode(disk, o.Path);
        DiskGeometry g = disk.Geometry;
        if (o.Writes)
        {
            IoRules.CheckWritable(g);
        }
        IoRules.CheckRange(IoKnob.BlockSize, o.BlockSize, g.LogicalBlockSize, IoRules.MaxBlockSize, "The block size");
        if (o.BlockSize % g.LogicalBlockSize != 0)
        {
            throw new IoRequestException(IoProblem.Unaligned, IoKnob.BlockSize,
                $"The block size {o.BlockSize} is not a multiple of {g.Name}'s logical block size ({g.LogicalBlockSize} bytes).")
            { Value = (ulong)o.BlockSize, Step = (ulong)g.LogicalBlockSize, Disk = g.Name, LogicalBlockSize = g.LogicalBlockSize };
        }
        IoRules.CheckRange(IoKnob.QueueDepth, o.QueueDepth, 1, IoRules.MaxQueueDepth, "The queue depth");
        IoRules.CheckRange(IoKnob.SubmitBatch, o.SubmitBatch, 1, IoRules.MaxQueueDepth, "The submit batch");
        IoRules.CheckRange(IoKnob.CompleteBatch, o.CompleteBatch, 1, IoRules.MaxQueueDepth, "The complete batch");
        IoRules.CheckRange(IoKnob.Threads, o.Threads, 1, IoRules.MaxThreads, "The thread count");
        IoRules.CheckRange(IoKnob.ReadPercent, o.ReadPercent, 0, 100, "The read percentage");
        if (o.IoCount < 0 || (o.IoCount == 0 && o.Duration <= TimeSpan.Zero))
        {
            throw new IoRequestException(IoProblem.OutOfRange, o.IoCount < 0 ? IoKnob.IoCount : IoKnob.Duration, "Give a positive run time or I/O count.");
        }
        IoRules.CheckBufferBytes(o.BlockSize, o.QueueDepth, o.Threads, IoKnob.QueueDepth);
        if (g.Sectors == 0)
        {
            IoRules.CheckSectorRange(g, 0, (ulong)g.SectorsPerBlock); // throws NoMedium
        }
        if (o.RangeOffset >= g.SizeBytes || (o.RangeLength != 0 && o.RangeLength > g.SizeBytes - o.RangeOffset))
        {
            throw new IoRequestException(IoProblem.RangeOutsideDisk, IoKnob.Range,
                $"The range [{o.RangeOffset}, +{o.RangeLength}) is not inside {g.Name} ({g.SizeBytes} bytes).")
            { Start = o.RangeOffset, Value = o.RangeLength, Limit = g.SizeBytes, Disk = g.Name };
        }
        ulong start = (o.RangeOffset + (ulong)o.BlockSize - 1) / (ulong)o.BlockSize * (ulong)o.BlockSize;
        ulong end = o.RangeLength == 0 ? g.SizeBytes : o.RangeOffset + o.RangeLength;
        if (end <= start || (end - start) / (ulong)o.BlockSize == 0)
        {
            throw new IoRequestException(IoProblem.RangeHoldsNoBlock, IoKnob.Range, $"The range holds no whole block of {o.BlockSize} bytes.")
            { Value = (ulong)o.BlockSize };
        }
        IoRules.CheckMode(g, o.Path, o.Vectored, o.FixedBuffers, o.Poll);
        IoRules.CheckRange(IoKnob.RateIops, o.RateIops, 0, long.MaxValue, "The I/O rate");
        if (o.Ramp < TimeSpan.Zero || o.Ramp > TimeSpan.FromDays(1))
        {
            throw new IoRequestException(IoProblem.OutOfRange, IoKnob.Ramp, "The ramp must be 0 to 86400 seconds.") { Minimum = 0, Limit = 86400 };
        }
        if (o.Verify || o.Operation == BenchmarkOperation.Verify)
        {
            ulong perThread = SliceOf(o, g, o.Threads - 1).Blocks;
            bool sequentialWrites = o.Writes && o.Pattern == BenchmarkPattern.Sequential;
            IoRules.CheckVerify(o.Verify, o.Operation == BenchmarkOperation.Write, o.Operation is BenchmarkOperation.Read or BenchmarkOperation.Mixed,
                perThread, sequentialWrites ? (ulong)o.QueueDepth : 1, o.Threads);
            if (o.Verify) IoRules.CheckBufferBytes(2L * o.BlockSize, o.QueueDepth, o.Threads, IoKnob.QueueDepth);
        }
        int[] allowed = CpuMask.Allowed();
        IoRules.CheckCpus(o.CpuAffinity, allowed, CpuMask.Describe(allowed));
        return g;
    }

    /// <summary>
    /// The blocks thread <paramref name="index"/> works on: the whole range, or with verification its own contiguous
    /// part of it (so no two threads ever hold the same block in flight with different contents).
    /// </summary>
    public static (ulong Start, ulong Blocks) SliceOf(BenchmarkOptions o, DiskGeometry g, int index)
    {
        ulong bs = (ulong)o.BlockSize;
        ulong start = (o.RangeOffset + bs - 1) / bs * bs;
        ulong end = o.RangeLength == 0 ? g.SizeBytes : Math.Min(g.SizeBytes, o.RangeOffset + o.RangeLength);
        ulong blocks = end > start ? (end - start) / bs : 0;
        if (!o.Verifies || o.Threads <= 1) return (start, blocks);
        ulong t = (ulong)o.Threads, i = (ulong)index;
        ulong first = blocks * i / t, next = blocks * (i + 1) / t;
        return (start + first * bs, next - first);
    }

    /// <summary>The CPU each thread is pinned to: the list given (cycled), or thread i on the i-th CPU of the process's mask.</summary>
    public static int[] ThreadCpus(BenchmarkOptions o)
    {
        int[] allowed = CpuMask.Allowed();
        var cpus = new int[o.Threads];
        for (int i = 0; i < cpus.Length; i++)
        {
            cpus[i] = o.CpuAffinity is { Length: > 0 } aff ? aff[i % aff.Length] : allowed[i % allowed.Length];
        }
        return cpus;
    }

    public static BenchmarkRunResult Run(BenchmarkOptions o, CancellationToken cancel = default, Action<BenchmarkProgress>? progress = null)
    {
        DiskGeometry g = Validate(o);
        var workers = new BenchmarkWorker?[o.Threads];
        var errors = new Exception?[o.Threads];
        var stop = new StrongBox();
        using var ready = new CountdownEvent(o.Threads);
        using var go = new ManualResetEventSlim();
        long endTimestamp = 0;
        var threads = new Thread[o.Threads];
        int[] cpus = ThreadCpus(o);
        long goAt = 0, measureFrom = 0;
        for (int t = 0; t < o.Threads; t++)
        {
            int index = t;
            int cpu = cpus[index];
            threads[t] = new Thread(() =>
            {
                BenchmarkWorker? w = null;
                try
                {
                    try
                    {
                        w = new BenchmarkWorker(o, g, index);
                        workers[index] = w;
                    }
                    finally
                    {
                        ready.Signal();
                    }
                    go.Wait();
                    if (!Volatile.Read(ref stop.Value)) w.Run(cpu, Volatile.Read(ref goAt), Volatile.Read(ref measureFrom), Volatile.Read(ref endTimestamp), stop);
                }
                catch (Exception e)
                {
                    errors[index] = e;
                    Volatile.Write(ref stop.Value, true);
                }
                finally
                {
                    w?.Dispose(); // on this thread: the ring is bound to it
                }
            })
            { IsBackground = true, Name = $"virtioblk-bench-{t}" };
            threads[t].Start();
        }
        ready.Wait();
        if (errors.FirstOrDefault(e => e is not null) is { } setupError)
        {
            Volatile.Write(ref stop.Value, true);
            go.Set();
            foreach (Thread th in threads) th.Join();
            throw setupError;
        }

        long freq = System.Diagnostics.Stopwatch.Frequency;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        long ramp = o.OnePass ? 0 : (long)(o.Ramp.TotalSeconds * freq);
        Volatile.Write(ref goAt, start);
        Volatile.Write(ref measureFrom, start + ramp);
        Volatile.Write(ref endTimestamp, start + ramp + (long)(o.Duration.TotalSeconds * freq));
        go.Set();
        long lastCompleted = 0;
        long lastTick = start;
        bool cancelled = false;
        // A disk removed under the run fails every I/O from then on; the workers would count errors until the end.
        // Watched here, off the workers' loop: once /sys/block/NAME is gone the run stops and says so.
        bool watchRemoval = !DiskRemoval.IsGone(g.Name), removed = false;
        try
        {
            while (!threads.All(th => th.Join(o.Threads > 1 ? 50 : 100)))
            {
                if (watchRemoval && !removed && DiskRemoval.IsGone(g.Name))
                {
                    removed = true;
                    Volatile.Write(ref stop.Value, true);
                }
                if (cancel.IsCancellationRequested && !cancelled)
                {
                    cancelled = true;
                    Volatile.Write(ref stop.Value, true);
                }
                long now = System.Diagnostics.Stopwatch.GetTimestamp();
                if (progress is not null && now - lastTick >= freq)
                {
                    long completed = workers.Sum(w => w?.Completed ?? 0);
                    double seconds = (now - start) / (double)freq;
                    double pct = o.OnePass
                        ? 100.0 * completed / Math.Max(1.0, workers.Sum(w => (double)(w?.RangeBlocks ?? 0)) * (o.Verify ? 2 : 1))
                        : o.IoCount > 0
                        ? 100.0 * completed / (o.IoCount * o.Threads)
                        : 100.0 * seconds / (o.Duration.TotalSeconds + o.Ramp.TotalSeconds);
                    progress(new BenchmarkProgress(TimeSpan.FromSeconds(seconds), completed,
                        (completed - lastCompleted) / ((now - lastTick) / (double)freq), Math.Min(100, pct)));
                    lastCompleted = completed;
                    lastTick = now;
                }
            }
        }
        catch
        {
            // The progress callback may throw (WriteProgress while the pipeline stops on Ctrl+C): the workers'
            // rings and fds are theirs to release, so stop them and wait before the exception leaves the engine.
            Volatile.Write(ref stop.Value, true);
            foreach (Thread th in threads) th.Join();
            throw;
        }
        Exception? runError = errors.FirstOrDefault(e => e is not null);
        // A worker that saw ENODEV stopped the run; the disk's directory goes once the I/O it had in flight is reaped.
        bool noDevice = workers.Any(w => w?.SawNoDevice == true);
        if (watchRemoval && (removed
            || (noDevice && DiskRemoval.WaitGone(g.Name, DiskRemoval.NoDeviceGrace))
            || (runError is IoUringException io && DiskRemoval.MayMeanRemoval(io.Errno) && DiskRemoval.WaitGone(g.Name, DiskRemoval.GraceFor(io.Errno)))))
        {
            long done = workers.Sum(w => w?.Completed ?? 0), failed = workers.Sum(w => w?.Errors ?? 0);
            int first = workers.Select(w => w?.FirstError ?? 0).FirstOrDefault(e => e != 0);
            throw new DiskRemovedException(g.Name, o.DevicePath, runError as IoUringException,
                $"the benchmark, after {done} I/Os completed and {failed} failed{(first != 0 ? $" (the first: {IoShape.DescribeResult(o.Path, first)})" : "")}",
                "benchmark");
        }
        if (runError is not null) throw runError;
        return Aggregate(o, g, workers!, cancelled, cpus);
    }

    private static BenchmarkRunResult Aggregate(BenchmarkOptions o, DiskGeometry g, BenchmarkWorker[] ws, bool cancelled, int[] cpus)
    {
        long freq = System.Diagnostics.Stopwatch.Frequency;
        long start = ws.Min(w => w.StartTimestamp); // the end of the ramp, the same for every thread
        long end = Math.Max(start, ws.Max(w => w.EndTimestamp));
        var slat = new LongHistogram(60L * 1_000_000_000, 3);
        var clat = new LongHistogram(60L * 1_000_000_000, 3);
        var lat = new LongHistogram(60L * 1_000_000_000, 3);
        foreach (BenchmarkWorker w in ws)
        {
            slat.Add(w.Slat);
            clat.Add(w.Clat);
            lat.Add(w.Lat);
        }
        double elapsed = (end - start) / (double)freq;
        int seconds = ws.Max(w => w.SecondsRecorded);
        long[] perSecond = new long[seconds];
        foreach (BenchmarkWorker w in ws)
            for (int i = 0; i < Math.Min(seconds, w.SecondsRecorded); i++) perSecond[i] += w.PerSecond[i];
        int firstError = ws.Select(w => w.FirstError).FirstOrDefault(e => e != 0);
        return new BenchmarkRunResult
        {
            Options = o,
            KernelRelease = Sysfs.TryReadText(Sysfs.OsRelease)?.Trim() ?? "",
            LogicalBlockSize = g.LogicalBlockSize,
            DeviceSizeBytes = g.SizeBytes,
            Elapsed = TimeSpan.FromSeconds(elapsed),
            TotalIos = ws.Sum(w => w.MeasuredIos),
            Errors = ws.Sum(w => w.Errors),
            WritesIssued = ws.Sum(w => w.WritesIssued),
            FirstErrorCode = firstError,
            SubmitCalls = ws.Sum(w => w.SubmitCalls),
            SubmittedIos = ws.Sum(w => w.Submitted),
            ReapCalls = ws.Sum(w => w.ReapCalls),
            ReapedIos = ws.Sum(w => w.Reaped),
            UserCpu = TimeSpan.FromTicks(ws.Sum(w => w.UserCpu.Ticks)),
            SystemCpu = TimeSpan.FromTicks(ws.Sum(w => w.SystemCpu.Ticks)),
            IopsPerSecond = perSecond,
            LastSampleSeconds = seconds == 0 ? 0 : Math.Clamp(elapsed - (seconds - 1), 0, 1),
            BlocksChecked = ws.Sum(w => w.BlocksChecked),
            Mismatches = ws.Sum(w => w.Mismatches),
            MismatchDetails = ws.SelectMany(w => w.MismatchDetails.ToArray()).OrderBy(m => m.Offset).ToArray(),
            ThreadCpus = cpus,
            Cancelled = cancelled,
            AllocatedBytes = ws.Sum(w => w.AllocatedBytes),
            SubmitLatency = o.RecordLatency ? LatencySummary.From(slat) : null,
            CompletionLatency = o.RecordLatency ? LatencySummary.From(clat) : null,
            TotalLatency = o.RecordLatency ? LatencySummary.From(lat) is { } l ? l with { Buckets = Buckets(lat) } : null : null,
        };
    }

    /// <summary>Log-spaced buckets (powers of two in µs) of a latency histogram, for a terminal picture.</summary>
    private static IReadOnlyList<(double UpToUs, long Count)> Buckets(HistogramBase h)
    {
        var counts = new SortedDictionary<double, long>();
        foreach (var v in h.RecordedValues())
        {
            double us = Math.Max(1, v.ValueIteratedTo / 1000.0);
            double upTo = Math.Pow(2, Math.Ceiling(Math.Log2(us)));
            counts[upTo] = counts.GetValueOrDefault(upTo) + v.CountAtValueIteratedTo;
        }
        return counts.Select(kv => (kv.Key, kv.Value)).ToList();
    }
}
