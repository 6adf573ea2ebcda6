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

/// <summary>One checked block that did not hold what it should (see -Verify).</summary>
public sealed class VirtioBlkMismatch
{
    /// <summary>The block's byte offset on the disk.</summary>
    public ulong Offset { get; set; }

    /// <summary>Ok, NoHeader, OtherSeed, Misdirected (an intact block of another offset), Corrupt (torn or changed), Stale (an older generation).</summary>
    public string Verdict { get; set; } = "";

    /// <summary>The offset the block's header names (the block that is really there, for Misdirected).</summary>
    public ulong HeaderOffset { get; set; }
    public ulong HeaderGeneration { get; set; }
    public ulong HeaderSeed { get; set; }

    /// <summary>The generation just written (verified writes), 0 in a verify pass (any generation of the seed is accepted).</summary>
    public ulong ExpectedGeneration { get; set; }

    public override string ToString() => Verdict switch
    {
        nameof(BlockVerdict.Misdirected) => $"offset {Offset}: holds the block of offset {HeaderOffset} (generation {HeaderGeneration})",
        nameof(BlockVerdict.Stale) => $"offset {Offset}: holds generation {HeaderGeneration}, {ExpectedGeneration} was written",
        nameof(BlockVerdict.OtherSeed) => $"offset {Offset}: holds a block of seed {HeaderSeed}",
        nameof(BlockVerdict.Corrupt) => $"offset {Offset}: checksum fails (torn or corrupted; header says offset {HeaderOffset}, generation {HeaderGeneration})",
        _ => $"offset {Offset}: no verification header",
    };
}

/// <summary>
/// One benchmark run, serializable (it survives remoting, Export-Clixml and ConvertTo-Json whole): every knob needed
/// to rerun it, the device, and what was measured. Every visible property is a scalar, so Export-Csv gives one flat
/// row; the nested details (latency summaries, per-second samples, histogram, mismatches) are [Hidden] properties,
/// which JSON and CliXml carry and CSV leaves out. Latencies are in microseconds.
/// </summary>
public sealed class VirtioBlkBenchmarkResult
{
    /// <summary>The shape of this object: 2 adds the rerun knobs, flat figures and verification (1 had nested figures only).</summary>
    public const int CurrentSchemaVersion = 2;

    public int SchemaVersion { get; set; } = CurrentSchemaVersion;
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

    /// <summary>The block path went through the page cache (-Buffered); false on passthrough, which always bypasses it.</summary>
    public bool Buffered { get; set; }
    public bool SqPoll { get; set; }
    public int Threads { get; set; }

    /// <summary>The -CpuAffinity given, comma-separated ("" = the default: thread i on the i-th CPU of the process's mask).</summary>
    public string CpuAffinity { get; set; } = "";

    /// <summary>The CPUs the threads ran on, comma-separated (-1: unpinned).</summary>
    public string ThreadCpus { get; set; } = "";
    public string Pattern { get; set; } = "";
    public ulong Seed { get; set; }
    public string Buffer { get; set; } = "";
    public bool Verify { get; set; }
    public double RampSeconds { get; set; }
    public long RateIops { get; set; }

    /// <summary>The run time asked for (0 with -IoCount or a verify pass).</summary>
    public double RunSeconds { get; set; }

    /// <summary>The I/O count per thread asked for (0 with a run time).</summary>
    public long IoCount { get; set; }
    public bool LatencyRecorded { get; set; }
    public ulong RangeOffset { get; set; }
    public ulong RangeLength { get; set; }
    public int LogicalBlockSize { get; set; }
    public ulong DeviceSizeBytes { get; set; }
    public string KernelRelease { get; set; } = "";
    public string HostName { get; set; } = "";
    public DateTimeOffset StartTime { get; set; }
    public double Seconds { get; set; }
    public long TotalIos { get; set; }
    public long Errors { get; set; }
    public string? FirstError { get; set; }
    public long BlocksChecked { get; set; }
    public long Mismatches { get; set; }
    public double Iops { get; set; }
    public double BandwidthMiBps { get; set; }
    public double IosPerSubmitCall { get; set; }
    public double IosPerReapCall { get; set; }
    public double? SlatP50Us { get; set; }
    public double? SlatP99Us { get; set; }
    public double? SlatMaxUs { get; set; }
    public double? ClatP50Us { get; set; }
    public double? ClatP99Us { get; set; }
    public double? ClatMaxUs { get; set; }
    public double? LatMeanUs { get; set; }
    public double? LatP50Us { get; set; }
    public double? LatP90Us { get; set; }
    public double? LatP99Us { get; set; }
    public double? LatP99_9Us { get; set; }
    public double? LatP99_99Us { get; set; }
    public double? LatMaxUs { get; set; }
    public double UserCpuSeconds { get; set; }
    public double SystemCpuSeconds { get; set; }

    /// <summary>How long the last per-second sample really lasted (the run's last, partial second), 0 to 1.</summary>
    public double LastSampleSeconds { get; set; }
    public bool Cancelled { get; set; }

    /// <summary>Managed bytes allocated per I/O inside the engine's loop (0 in the steady state).</summary>
    public double AllocatedBytesPerIo { get; set; }

    [System.Management.Automation.Hidden]
    public VirtioBlkLatency? SubmitLatency { get; set; }

    [System.Management.Automation.Hidden]
    public VirtioBlkLatency? CompletionLatency { get; set; }

    [System.Management.Automation.Hidden]
    public VirtioBlkLatency? TotalLatency { get; set; }

    /// <summary>I/Os completed in each second, every I/O once (they sum to TotalIos); the last may be a partial second.</summary>
    [System.Management.Automation.Hidden]
    public long[] IopsPerSecond { get; set; } = Array.Empty<long>();

    [System.Management.Automation.Hidden]
    public LatencyBucket[] LatencyHistogram { get; set; } = Array.Empty<LatencyBucket>();

    [System.Management.Automation.Hidden]
    public VirtioBlkMismatch[] MismatchDetails { get; set; } = Array.Empty<VirtioBlkMismatch>();

    internal static VirtioBlkBenchmarkResult From(BenchmarkRunResult r, string device, DateTimeOffset start)
    {
        BenchmarkOptions o = r.Options;
        long total = r.TotalLatency?.Buckets.Sum(b => b.Count) ?? 0;
        VirtioBlkLatency? slat = VirtioBlkLatency.From(r.SubmitLatency), clat = VirtioBlkLatency.From(r.CompletionLatency), lat = VirtioBlkLatency.From(r.TotalLatency);
        return new VirtioBlkBenchmarkResult
        {
            Device = device,
            Path = o.DevicePath,
            Mode = o.Path.ToString(),
            Operation = o.Operation.ToString(),
            ReadPercent = o.Operation switch { BenchmarkOperation.Read or BenchmarkOperation.Verify => 100, BenchmarkOperation.Write => 0, _ => o.ReadPercent },
            BlockSize = o.BlockSize,
            QueueDepth = o.QueueDepth,
            SubmitBatch = o.SubmitBatch,
            CompleteBatch = o.CompleteBatch,
            Poll = o.Poll,
            FixedBuffers = o.FixedBuffers,
            RegisteredFiles = o.RegisteredFiles,
            Vectored = o.Vectored,
            Buffered = !o.Direct && o.Path != Core.Devices.IoPathKind.Passthrough,
            SqPoll = o.SqPoll,
            Threads = o.Threads,
            CpuAffinity = o.CpuAffinity is null ? "" : string.Join(",", o.CpuAffinity),
            ThreadCpus = string.Join(",", r.ThreadCpus),
            Pattern = o.Pattern.ToString(),
            Seed = o.Seed,
            Buffer = o.Buffer.ToString(),
            Verify = o.Verifies,
            RampSeconds = o.OnePass ? 0 : o.Ramp.TotalSeconds,
            RateIops = o.RateIops,
            RunSeconds = o.IoCount > 0 || o.OnePass ? 0 : o.Duration.TotalSeconds,
            IoCount = o.OnePass ? 0 : o.IoCount,
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
            BlocksChecked = r.BlocksChecked,
            Mismatches = r.Mismatches,
            Iops = r.Iops,
            BandwidthMiBps = Math.Round(r.BytesPerSecond / (1 << 20), 1),
            IosPerSubmitCall = Math.Round(r.IosPerSubmitCall, 2),
            IosPerReapCall = Math.Round(r.IosPerReapCall, 2),
            SlatP50Us = slat?.P50Us, SlatP99Us = slat?.P99Us, SlatMaxUs = slat?.MaxUs,
            ClatP50Us = clat?.P50Us, ClatP99Us = clat?.P99Us, ClatMaxUs = clat?.MaxUs,
            LatMeanUs = lat?.MeanUs, LatP50Us = lat?.P50Us, LatP90Us = lat?.P90Us, LatP99Us = lat?.P99Us,
            LatP99_9Us = lat?.P99_9Us, LatP99_99Us = lat?.P99_99Us, LatMaxUs = lat?.MaxUs,
            SubmitLatency = slat,
            CompletionLatency = clat,
            TotalLatency = lat,
            UserCpuSeconds = Math.Round(r.UserCpu.TotalSeconds, 3),
            SystemCpuSeconds = Math.Round(r.SystemCpu.TotalSeconds, 3),
            IopsPerSecond = r.IopsPerSecond,
            LastSampleSeconds = Math.Round(r.LastSampleSeconds, 3),
            LatencyHistogram = r.TotalLatency?.Buckets
                .Select(b => new LatencyBucket { UpToMicroseconds = b.UpToUs, Count = b.Count, Percent = total == 0 ? 0 : Math.Round(100.0 * b.Count / total, 2) })
                .ToArray() ?? Array.Empty<LatencyBucket>(),
            MismatchDetails = r.MismatchDetails.Select(m => new VirtioBlkMismatch
            {
                Offset = m.Offset, Verdict = m.Verdict.ToString(), HeaderOffset = m.HeaderOffset, HeaderGeneration = m.HeaderGeneration,
                HeaderSeed = m.HeaderSeed, ExpectedGeneration = m.ExpectedGeneration,
            }).ToArray(),
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
    [System.Management.Automation.Hidden]
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
