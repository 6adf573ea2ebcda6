using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using HdrHistogram;
using VirtioBlk.Core.Devices;

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
    /// <summary>Checks the options against the disk and returns its geometry; throws a typed error for bad input.</summary>
    public static DiskGeometry Validate(BenchmarkOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        DiskGeometry g = DiskGeometry.FromSysfs(DiskGeometry.DiskNameOf(o.DevicePath));
        DeviceNodeKind kind = DeviceNodeInfo.Stat(o.DevicePath).Kind;
        if (o.Path == IoPathKind.Passthrough && kind != DeviceNodeKind.CharacterDevice)
            throw new ArgumentException($"Passthrough runs on the disk's char device (/dev/{g.Name}c0), not {o.DevicePath}.");
        if (o.Path == IoPathKind.Block && kind != DeviceNodeKind.BlockDevice)
            throw new ArgumentException($"The block path runs on a block device, not {o.DevicePath}.");
        if (o.BlockSize < g.LogicalBlockSize || o.BlockSize % g.LogicalBlockSize != 0 || o.BlockSize > 16 << 20)
            throw new ArgumentOutOfRangeException(nameof(o.BlockSize), o.BlockSize,
                $"BlockSize must be a multiple of the logical block size ({g.LogicalBlockSize}) up to 16 MiB.");
        if (o.QueueDepth is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(o.QueueDepth), o.QueueDepth, "QueueDepth must be 1 to 4096.");
        if (o.SubmitBatch < 1 || o.CompleteBatch < 1)
            throw new ArgumentOutOfRangeException(nameof(o.SubmitBatch), "SubmitBatch and CompleteBatch must be at least 1.");
        if (o.Threads < 1 || o.Threads > 1024)
            throw new ArgumentOutOfRangeException(nameof(o.Threads), o.Threads, "Threads must be 1 to 1024.");
        if (o.ReadPercent is < 0 or > 100)
            throw new ArgumentOutOfRangeException(nameof(o.ReadPercent), o.ReadPercent, "ReadPercent must be 0 to 100.");
        if (o.IoCount < 0 || (o.IoCount == 0 && o.Duration <= TimeSpan.Zero))
            throw new ArgumentOutOfRangeException(nameof(o.Duration), "Give a positive run time or I/O count.");
        if (o.RangeOffset >= g.SizeBytes || (o.RangeLength != 0 && o.RangeOffset + o.RangeLength > g.SizeBytes))
            throw new ArgumentOutOfRangeException(nameof(o.RangeOffset),
                $"The range [{o.RangeOffset}, +{o.RangeLength}) is not inside the disk ({g.SizeBytes} bytes).");
        ulong start = (o.RangeOffset + (ulong)o.BlockSize - 1) / (ulong)o.BlockSize * (ulong)o.BlockSize;
        ulong end = o.RangeLength == 0 ? g.SizeBytes : o.RangeOffset + o.RangeLength;
        if (end <= start || (end - start) / (ulong)o.BlockSize == 0)
            throw new ArgumentOutOfRangeException(nameof(o.RangeLength), "The range holds no whole block of BlockSize bytes.");
        if (o.Poll && !g.IoPoll)
            throw new IoUringException(Errno.EOPNOTSUPP, IoOperationKind.RingSetup, "IORING_SETUP_IOPOLL",
                $"{g.Name} has no poll queues (/sys/block/{g.Name}/queue/io_poll is 0): boot with virtio_blk.poll_queues=1 or drop -Poll.", o.DevicePath);
        if (o.Path == IoPathKind.Passthrough && o.Vectored && o.FixedBuffers)
            throw new ArgumentException("Passthrough cannot combine -Vectored with -FixedBuffers: the kernel refuses VIRTBLK_URING_CMD_IO_VEC on a registered buffer.");
        if (o.CpuAffinity is { } cpus && cpus.Any(c => c < -1 || c >= Environment.ProcessorCount))
            throw new ArgumentOutOfRangeException(nameof(o.CpuAffinity), $"CPUs are 0 to {Environment.ProcessorCount - 1} here (-1: not pinned).");
        return g;
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
        for (int t = 0; t < o.Threads; t++)
        {
            int index = t;
            int cpu = o.CpuAffinity is { Length: > 0 } aff ? aff[index % aff.Length] : index % Environment.ProcessorCount;
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
                    if (!Volatile.Read(ref stop.Value)) w.Run(cpu, Volatile.Read(ref endTimestamp), stop);
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
        Volatile.Write(ref endTimestamp, start + (long)(o.Duration.TotalSeconds * freq));
        go.Set();
        long lastCompleted = 0;
        long lastTick = start;
        bool cancelled = false;
        while (!threads.All(th => th.Join(o.Threads > 1 ? 50 : 100)))
        {
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
                double pct = o.IoCount > 0
                    ? 100.0 * completed / (o.IoCount * o.Threads)
                    : 100.0 * seconds / o.Duration.TotalSeconds;
                progress(new BenchmarkProgress(TimeSpan.FromSeconds(seconds), completed,
                    (completed - lastCompleted) / ((now - lastTick) / (double)freq), Math.Min(100, pct)));
                lastCompleted = completed;
                lastTick = now;
            }
        }
        if (errors.FirstOrDefault(e => e is not null) is { } runError) throw runError;
        return Aggregate(o, g, workers!, cancelled);
    }

    private static BenchmarkRunResult Aggregate(BenchmarkOptions o, DiskGeometry g, BenchmarkWorker[] ws, bool cancelled)
    {
        long freq = System.Diagnostics.Stopwatch.Frequency;
        long start = ws.Min(w => w.StartTimestamp);
        long end = ws.Max(w => w.EndTimestamp);
        var slat = new LongHistogram(60L * 1_000_000_000, 3);
        var clat = new LongHistogram(60L * 1_000_000_000, 3);
        var lat = new LongHistogram(60L * 1_000_000_000, 3);
        foreach (BenchmarkWorker w in ws)
        {
            slat.Add(w.Slat);
            clat.Add(w.Clat);
            lat.Add(w.Lat);
        }
        int seconds = ws.Max(w => w.SecondsRecorded);
        long[] perSecond = new long[seconds];
        foreach (BenchmarkWorker w in ws)
            for (int i = 0; i < Math.Min(seconds, w.SecondsRecorded); i++) perSecond[i] += w.PerSecond[i];
        int firstError = ws.Select(w => w.FirstError).FirstOrDefault(e => e != 0);
        return new BenchmarkRunResult
        {
            Options = o,
            KernelRelease = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            LogicalBlockSize = g.LogicalBlockSize,
            DeviceSizeBytes = g.SizeBytes,
            Elapsed = TimeSpan.FromSeconds((end - start) / (double)freq),
            TotalIos = ws.Sum(w => w.Completed),
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
