using System;
using System.Collections.Generic;
using System.Linq;
using HdrHistogram;

namespace VirtioBlk.Core.Bench;

/// <summary>One latency distribution in microseconds, as fio prints slat / clat / lat.</summary>
public sealed record LatencySummary(
    long Count, double MinUs, double MeanUs, double MaxUs, double StdevUs,
    double P50Us, double P90Us, double P99Us, double P999Us, double P9999Us)
{
    public static LatencySummary? From(HistogramBase h)
    {
        if (h.TotalCount == 0) return null;
        double Us(long ns) => ns / 1000.0;
        long min = h.RecordedValues().First().ValueIteratedTo;
        return new LatencySummary(h.TotalCount, Us(h.LowestEquivalentValue(min)), h.GetMean() / 1000.0, Us(h.GetMaxValue()),
            h.GetStdDeviation() / 1000.0,
            Us(h.GetValueAtPercentile(50)), Us(h.GetValueAtPercentile(90)), Us(h.GetValueAtPercentile(99)),
            Us(h.GetValueAtPercentile(99.9)), Us(h.GetValueAtPercentile(99.99)));
    }

    /// <summary>The (upper bound in µs, count) buckets of the distribution, for a terminal histogram.</summary>
    public IReadOnlyList<(double UpToUs, long Count)> Buckets { get; init; } = Array.Empty<(double, long)>();
}

/// <summary>
/// One checked block that did not hold what it should: where it is, the verdict, and what its header claims (which
/// offset, generation and seed the block really holds), so a misdirected write is told apart from a torn one.
/// </summary>
public readonly record struct BenchmarkMismatch(
    ulong Offset, BlockVerdict Verdict, ulong HeaderOffset, ulong HeaderGeneration, ulong HeaderSeed, ulong ExpectedGeneration, int Thread);

/// <summary>What one benchmark run measured, over all its threads.</summary>
public sealed class BenchmarkRunResult
{
    public required BenchmarkOptions Options { get; init; }
    public required string KernelRelease { get; init; }
    public required int LogicalBlockSize { get; init; }
    public required ulong DeviceSizeBytes { get; init; }
    public required TimeSpan Elapsed { get; init; }
    public required long TotalIos { get; init; }
    public required long Errors { get; init; }

    /// <summary>Of the I/Os issued, how many were writes (the rest were reads).</summary>
    public required long WritesIssued { get; init; }
    public required int FirstErrorCode { get; init; }
    public required long SubmitCalls { get; init; }
    public required long SubmittedIos { get; init; }
    public required long ReapCalls { get; init; }
    public required long ReapedIos { get; init; }
    public required TimeSpan UserCpu { get; init; }
    public required TimeSpan SystemCpu { get; init; }
    /// <summary>I/Os completed in each second of the measured part, every I/O once: they sum to <see cref="TotalIos"/>.</summary>
    public required long[] IopsPerSecond { get; init; }

    /// <summary>How long the last sample's second really was (it ends with the run), in seconds, 0 to 1.</summary>
    public required double LastSampleSeconds { get; init; }

    /// <summary>Blocks read back and checked (ramp included): verified writes and verify passes.</summary>
    public required long BlocksChecked { get; init; }

    /// <summary>Checked blocks that did not hold what they should (ramp included).</summary>
    public required long Mismatches { get; init; }

    /// <summary>The first mismatches, by offset (at most <see cref="BenchmarkOptions.MaxMismatchesReported"/> per thread).</summary>
    public required IReadOnlyList<BenchmarkMismatch> MismatchDetails { get; init; }

    /// <summary>The CPU each thread was pinned to (-1: not pinned).</summary>
    public required int[] ThreadCpus { get; init; }
    public required bool Cancelled { get; init; }

    /// <summary>Managed bytes the engine threads allocated inside their I/O loops.</summary>
    public required long AllocatedBytes { get; init; }

    public double AllocatedBytesPerIo => TotalIos > 0 ? (double)AllocatedBytes / TotalIos : 0;
    public LatencySummary? SubmitLatency { get; init; }
    public LatencySummary? CompletionLatency { get; init; }
    public LatencySummary? TotalLatency { get; init; }

    public double Iops => Elapsed.TotalSeconds > 0 ? TotalIos / Elapsed.TotalSeconds : 0;
    public double BytesPerSecond => Iops * Options.BlockSize;
    public double IosPerSubmitCall => SubmitCalls > 0 ? (double)SubmittedIos / SubmitCalls : 0;
    public double IosPerReapCall => ReapCalls > 0 ? (double)ReapedIos / ReapCalls : 0;
}
