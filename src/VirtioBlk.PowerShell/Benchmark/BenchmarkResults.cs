using System;
using System.Collections.Generic;
using System.Linq;
using VirtioBlk.Core.Bench;

namespace VirtioBlk.PowerShell.Benchmark;

/// <summary>One bucket of the latency distribution: I/Os whose total latency was at most <see cref="UpToMicroseconds"/>.</summary>
public sealed class LatencyBucket
{
    public double UpToMicroseconds { get; set; }
    public long Count { get; set; }
    public double Percent { get; set; }
}

/// <summary>A latency distribution in microseconds, named as fio prints them (slat / clat / lat).</summary>
public sealed class VirtioBlkLatency
{
    public long Count { get; set; }
    public double MinUs { get; set; }
    public double MeanUs { get; set; }
    public double MaxUs { get; set; }
    public double StdevUs { get; set; }
    public double P50Us { get; set; }
    public double P90Us { get; set; }
    public double P99Us { get; set; }
    public double P99_9Us { get; set; }
    public double P99_99Us { get; set; }

    internal static VirtioBlkLatency? From(LatencySummary? s) => s is null ? null : new VirtioBlkLatency
    {
        Count = s.Count, MinUs = R(s.MinUs), MeanUs = R(s.MeanUs), MaxUs = R(s.MaxUs), StdevUs = R(s.StdevUs),
        P50Us = R(s.P50Us), P90Us = R(s.P90Us), P99Us = R(s.P99Us), P99_9Us = R(s.P999Us), P99_99Us = R(s.P9999Us),
    };

    private static double R(double v) => Math.Round(v, 2);

    public override string ToString() => $"avg {MeanUs:0.##} us, p50 {P50Us:0.##}, p99 {P99Us:0.##}, max {MaxUs:0.##}";
}

/// <summary>
/// One benchmark run, flat and serializable (it survives remoting and Export-Csv / ConvertTo-Json): the knobs,
/// the device, and what was measured. Latencies are in microseconds.
/// </summary>
public sealed class VirtioBlkBenchmarkResult
{
    public string Device { get; set; } = "";
    public string Path { get; set; } = "";
    public string Mode { get; set; } = "";
    public string Operation { get; set; } = "";
    public int ReadPercent { get; set; }
    public int BlockSize { get; set; }
    public int QueueDepth { get; set; }
    public int SubmitBatch { get; set; }
    public int CompleteBatch { get; set; }
    public bool Poll { get; set; }
    public bool FixedBuffers { get; set; }
    public bool RegisteredFiles { get; set; }
    public bool Vectored { get; set; }
    public bool Direct { get; set; }
    public bool SqPoll { get; set; }
    public int Threads { get; set; }
    public bool Random { get; set; }
    public bool LatencyRecorded { get; set; }
    public ulong RangeOffset { get; set; }
    public ulong RangeLength { get; set; }
    public int LogicalBlockSize { get; set; }
    public ulong DeviceSizeBytes { get; set; }
    public string KernelRelease { get; set; } = "";
    public string HostName { get; set; } = "";
    public DateTime StartTime { get; set; }
    public double Seconds { get; set; }
    public long TotalIos { get; set; }
    public long Errors { get; set; }
    public string? FirstError { get; set; }
    public double Iops { get; set; }
    public double BandwidthMiBps { get; set; }
    public double IosPerSubmitCall { get; set; }
    public double IosPerReapCall { get; set; }
    public VirtioBlkLatency? SubmitLatency { get; set; }
    public VirtioBlkLatency? CompletionLatency { get; set; }
    public VirtioBlkLatency? TotalLatency { get; set; }
    public double UserCpuSeconds { get; set; }
    public double SystemCpuSeconds { get; set; }
    public long[] IopsPerSecond { get; set; } = Array.Empty<long>();
    public LatencyBucket[] LatencyHistogram { get; set; } = Array.Empty<LatencyBucket>();
    public bool Cancelled { get; set; }
    /// <summary>Managed bytes allocated per I/O inside the engine's loop (0 in the steady state).</summary>
    public double AllocatedBytesPerIo { get; set; }

    internal static VirtioBlkBenchmarkResult From(BenchmarkRunResult r, string device, DateTime start)
    {
        BenchmarkOptions o = r.Options;
        long total = r.TotalLatency?.Buckets.Sum(b => b.Count) ?? 0;
        return new VirtioBlkBenchmarkResult
        {
            Device = device,
            Path = o.DevicePath,
            Mode = o.Path.ToString(),
            Operation = o.Operation.ToString(),
            ReadPercent = o.Operation switch { BenchmarkOperation.Read => 100, BenchmarkOperation.Write => 0, _ => o.ReadPercent },
            BlockSize = o.BlockSize,
            QueueDepth = o.QueueDepth,
            SubmitBatch = o.SubmitBatch,
            CompleteBatch = o.CompleteBatch,
            Poll = o.Poll,
            FixedBuffers = o.FixedBuffers,
            RegisteredFiles = o.RegisteredFiles,
            Vectored = o.Vectored,
            Direct = o.Direct || o.Path == Core.Devices.IoPathKind.Passthrough,
            SqPoll = o.SqPoll,
            Threads = o.Threads,
            Random = o.Random,
            LatencyRecorded = o.RecordLatency,
            RangeOffset = o.RangeOffset,
            RangeLength = o.RangeLength,
            LogicalBlockSize = r.LogicalBlockSize,
            DeviceSizeBytes = r.DeviceSizeBytes,
            KernelRelease = r.KernelRelease,
            HostName = Environment.MachineName,
            StartTime = start,
            Seconds = r.Elapsed.TotalSeconds,
            TotalIos = r.TotalIos,
            Errors = r.Errors,
            FirstError = r.Errors == 0 ? null : Core.Io.IoShape.DescribeResult(o.Path, r.FirstErrorCode),
            Iops = r.Iops,
            BandwidthMiBps = Math.Round(r.BytesPerSecond / (1 << 20), 1),
            IosPerSubmitCall = Math.Round(r.IosPerSubmitCall, 2),
            IosPerReapCall = Math.Round(r.IosPerReapCall, 2),
            SubmitLatency = VirtioBlkLatency.From(r.SubmitLatency),
            CompletionLatency = VirtioBlkLatency.From(r.CompletionLatency),
            TotalLatency = VirtioBlkLatency.From(r.TotalLatency),
            UserCpuSeconds = Math.Round(r.UserCpu.TotalSeconds, 3),
            SystemCpuSeconds = Math.Round(r.SystemCpu.TotalSeconds, 3),
            IopsPerSecond = r.IopsPerSecond,
            LatencyHistogram = r.TotalLatency?.Buckets
                .Select(b => new LatencyBucket { UpToMicroseconds = b.UpToUs, Count = b.Count, Percent = total == 0 ? 0 : Math.Round(100.0 * b.Count / total, 2) })
                .ToArray() ?? Array.Empty<LatencyBucket>(),
            Cancelled = r.Cancelled,
            AllocatedBytesPerIo = Math.Round(r.AllocatedBytesPerIo, 4),
        };
    }
}

/// <summary>Compare mode: passthrough and block run alternately with identical knobs.</summary>
public sealed class VirtioBlkBenchmarkComparison
{
    public string Device { get; set; } = "";
    public string Operation { get; set; } = "";
    public int BlockSize { get; set; }
    public int QueueDepth { get; set; }
    public int SubmitBatch { get; set; }
    public int CompleteBatch { get; set; }
    public bool Poll { get; set; }
    public bool FixedBuffers { get; set; }
    public bool RegisteredFiles { get; set; }
    public bool Vectored { get; set; }
    public int Threads { get; set; }
    public int Rounds { get; set; }
    public string KernelRelease { get; set; } = "";
    public double PassthroughMedianIops { get; set; }
    public double BlockMedianIops { get; set; }
    public double? PassthroughMedianLatencyUs { get; set; }
    public double? BlockMedianLatencyUs { get; set; }
    /// <summary>Passthrough IOPS over block IOPS, per round: min, median, max.</summary>
    public double RatioMin { get; set; }
    public double RatioMedian { get; set; }
    public double RatioMax { get; set; }
    public long Errors { get; set; }
    public VirtioBlkBenchmarkResult[] Runs { get; set; } = Array.Empty<VirtioBlkBenchmarkResult>();

    /// <summary>Summarises alternating runs: each path's medians and the per-round passthrough/block ratios.</summary>
    internal static VirtioBlkBenchmarkComparison From(string device, BenchmarkOptions o,
        IReadOnlyList<VirtioBlkBenchmarkResult> runs, IReadOnlyList<double> ratios)
    {
        var pt = runs.Where(r => r.Mode == nameof(Core.Devices.IoPathKind.Passthrough)).ToArray();
        var blk = runs.Where(r => r.Mode == nameof(Core.Devices.IoPathKind.Block)).ToArray();
        return new VirtioBlkBenchmarkComparison
        {
            Device = device,
            Operation = o.Operation.ToString(),
            BlockSize = o.BlockSize,
            QueueDepth = o.QueueDepth,
            SubmitBatch = o.SubmitBatch,
            CompleteBatch = o.CompleteBatch,
            Poll = o.Poll,
            FixedBuffers = o.FixedBuffers,
            RegisteredFiles = o.RegisteredFiles,
            Vectored = o.Vectored,
            Threads = o.Threads,
            Rounds = ratios.Count,
            KernelRelease = runs.FirstOrDefault()?.KernelRelease ?? "",
            PassthroughMedianIops = Math.Round(Median(pt.Select(r => r.Iops))),
            BlockMedianIops = Math.Round(Median(blk.Select(r => r.Iops))),
            PassthroughMedianLatencyUs = o.RecordLatency ? Math.Round(Median(pt.Select(r => r.TotalLatency?.MeanUs ?? 0)), 2) : null,
            BlockMedianLatencyUs = o.RecordLatency ? Math.Round(Median(blk.Select(r => r.TotalLatency?.MeanUs ?? 0)), 2) : null,
            RatioMin = ratios.Count == 0 ? 0 : Math.Round(ratios.Min(), 3),
            RatioMedian = Math.Round(Median(ratios), 3),
            RatioMax = ratios.Count == 0 ? 0 : Math.Round(ratios.Max(), 3),
            Errors = runs.Sum(r => r.Errors),
            Runs = runs.ToArray(),
        };
    }

    internal static double Median(IEnumerable<double> values)
    {
        double[] v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return 0;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
