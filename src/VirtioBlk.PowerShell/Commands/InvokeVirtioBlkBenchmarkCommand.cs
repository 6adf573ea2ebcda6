using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using VirtioBlk.Core;
using VirtioBlk.Core.Bench;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;
using VirtioBlk.PowerShell.Benchmark;
using VirtioBlk.PowerShell.Completion;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell.Commands;

/// <summary>Which path Invoke-VirtioBlkBenchmark measures (both, alternately, with -Compare).</summary>
public enum VirtioBlkBenchmarkMode
{
    Block,
    Passthrough,
}

/// <summary>
/// Invoke-VirtioBlkBenchmark: fio t/io_uring-class random or sequential I/O through the block device or the
/// passthrough char device, with latency percentiles and, on request, verified data. The engine runs on its own
/// threads and never calls into PowerShell; this cmdlet only starts it, draws progress once a second and stops it on Ctrl+C.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "VirtioBlkBenchmark", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High,
    DefaultParameterSetName = TimeSet)]
[OutputType(typeof(VirtioBlkBenchmarkResult), typeof(VirtioBlkBenchmarkComparison))]
public sealed class InvokeVirtioBlkBenchmarkCommand : PSCmdlet
{
    private const string TimeSet = "Time";
    private const string CountSet = "Count";
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>
    /// The disks: /dev/vdX, /dev/vdXc0 or bare names, resolved like Get-Content -Path (relative to $PWD, ~,
    /// wildcards); each is benchmarked in turn. Takes strings and the Path property of Get-VirtioBlkDevice objects.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VirtioBlkDevicePathCompleter))]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Block (the block device, O_DIRECT) or Passthrough (/dev/vdXc0, URING_CMD).</summary>
    [Parameter]
    public VirtioBlkBenchmarkMode Mode { get; set; } = VirtioBlkBenchmarkMode.Block;

    /// <summary>Passthrough and block alternately, identical knobs, for -Rounds rounds.</summary>
    [Parameter]
    public SwitchParameter Compare { get; set; }

    /// <summary>With -Compare only (refused without it): how many passthrough/block pairs to run.</summary>
    [Parameter]
    [ValidateRange(1, 100)]
    public int Rounds { get; set; } = 3;

    /// <summary>Bytes per I/O (t/io_uring -b); a multiple of 512 and of the logical block size.</summary>
    [Parameter]
    [ValidateRange(512, IoRules.MaxBlockSize)]
    [ValidateMultipleOf(IoRules.SectorSize)]
    public int BlockSize { get; set; } = 4096;

    /// <summary>I/Os in flight per thread (-d).</summary>
    [Parameter]
    [ValidateRange(1, IoRules.MaxQueueDepth)]
    [Alias("IoDepth")]
    public int QueueDepth { get; set; } = 128;

    /// <summary>SQEs submitted per io_uring_enter at most (-s).</summary>
    [Parameter]
    [ValidateRange(1, IoRules.MaxQueueDepth)]
    public int SubmitBatch { get; set; } = 32;

    /// <summary>Completions waited for per io_uring_enter (-c).</summary>
    [Parameter]
    [ValidateRange(1, IoRules.MaxQueueDepth)]
    public int CompleteBatch { get; set; } = 32;

    /// <summary>Polled completions (IORING_SETUP_IOPOLL, -p); the disk needs poll queues.</summary>
    [Parameter]
    [Alias("IoPoll", "Hipri")]
    public SwitchParameter Poll { get; set; }

    /// <summary>Registered buffers (READ_FIXED / WRITE_FIXED, IORING_URING_CMD_FIXED; -B).</summary>
    [Parameter]
    public SwitchParameter FixedBuffers { get; set; }

    /// <summary>Registered files (IOSQE_FIXED_FILE; -F).</summary>
    [Parameter]
    public SwitchParameter RegisteredFiles { get; set; }

    /// <summary>Vectored I/O: READV/WRITEV, or VIRTBLK_URING_CMD_IO_VEC.</summary>
    [Parameter]
    public SwitchParameter Vectored { get; set; }

    /// <summary>Through the page cache on the block path (no O_DIRECT; t/io_uring -O0). Passthrough always bypasses it.</summary>
    [Parameter]
    public SwitchParameter Buffered { get; set; }

    /// <summary>A kernel thread polls the submission queue (IORING_SETUP_SQPOLL).</summary>
    [Parameter]
    public SwitchParameter SqPoll { get; set; }

    /// <summary>Threads, one ring each, each pinned to its own CPU of the process's mask (-n).</summary>
    [Parameter]
    [ValidateRange(1, IoRules.MaxThreads)]
    public int Threads { get; set; } = 1;

    /// <summary>The CPUs the threads are pinned to, in order (-1: unpinned); default: thread i on the i-th CPU of the process's mask.</summary>
    [Parameter]
    [ValidateRange(-1, VirtioBlk.Core.Bench.CpuMask.MaxCpus - 1)]
    public int[]? CpuAffinity { get; set; }

    /// <summary>Run time in seconds per run (-r), after the ramp.</summary>
    [Parameter(ParameterSetName = TimeSet)]
    [ValidateRange(0.1, 86400)]
    public double Seconds { get; set; } = 5;

    /// <summary>I/Os per thread per run, instead of a run time.</summary>
    [Parameter(Mandatory = true, ParameterSetName = CountSet)]
    [ValidateRange(1, long.MaxValue)]
    public long IoCount { get; set; }

    /// <summary>Random (the default) or Sequential offsets.</summary>
    [Parameter]
    public BenchmarkPattern Pattern { get; set; } = BenchmarkPattern.Random;

    /// <summary>Read, Write, Mixed (with -ReadPercent) or Verify (read and check blocks a -Verify write left). Write and Mixed destroy the data in the range.</summary>
    [Parameter]
    public BenchmarkOperation Operation { get; set; } = BenchmarkOperation.Read;

    /// <summary>With -Operation Mixed: the share of reads in percent.</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int ReadPercent { get; set; } = 50;

    /// <summary>The part of the disk to use: "START-END", "START+LENGTH" or "LENGTH", with K/M/G/T (KiB...) suffixes, e.g. "1GiB+512MiB".</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Range { get; set; }

    /// <summary>Fixes offsets and data: the same seed and knobs give the same offsets and bytes (default 1).</summary>
    [Parameter]
    public ulong Seed { get; set; } = 1;

    /// <summary>A warm-up run first, excluded from every figure.</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public double RampSeconds { get; set; }

    /// <summary>The most I/Os per second for the whole run, shared by the threads.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long RateIops { get; set; }

    /// <summary>What writes carry: Random (default), Zero or Pattern (0x5A repeated).</summary>
    [Parameter]
    public BenchmarkBuffer Buffer { get; set; } = BenchmarkBuffer.Random;

    /// <summary>With -Operation Write: each block carries a header and checksum and is read back and checked.</summary>
    [Parameter]
    public SwitchParameter Verify { get; set; }

    /// <summary>With verification: stop at the first block that does not hold what it should.</summary>
    [Parameter]
    public SwitchParameter StopOnMismatch { get; set; }

    /// <summary>No per-I/O timing, for raw maximum IOPS.</summary>
    [Parameter]
    public SwitchParameter NoLatency { get; set; }

    /// <summary>Write to a disk that is mounted, used as swap or held by another driver.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>This cmdlet's names for the core's knobs.</summary>
    private static string ParameterName(IoKnob knob) => knob switch
    {
        IoKnob.FixedBuffer => "-FixedBuffers",
        IoKnob.Duration => "-Seconds",
        IoKnob.Ramp => "-RampSeconds",
        _ => "-" + knob,
    };

    private bool IsCompare => Compare.IsPresent;

    protected override void BeginProcessing()
    {
        // Options of one mode are refused outside it, once, before any input is processed (PowerShell cannot tie a
        // parameter set to a switch when -Path comes from the pipeline, so this is the binding-time check).
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Rounds)) && !Compare)
        {
            ThrowTerminatingError(ErrorRecords.UnsupportedCombination("-Rounds without -Compare",
                "-Rounds counts the passthrough/block pairs of a comparison; a single run has none", string.Join(", ", Path),
                "Add -Compare to run both paths alternately, or drop -Rounds."));
        }
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Mode)) && Compare)
        {
            ThrowTerminatingError(ErrorRecords.UnsupportedCombination("-Mode with -Compare",
                "-Compare runs both paths", string.Join(", ", Path), "Give -Mode Block or -Mode Passthrough for one path, or -Compare for both."));
        }
    }

    protected override void ProcessRecord()
    {
        foreach (DevicePaths.Item item in DevicePaths.Resolve(this, Path, literal: false))
        {
            RunPath(item);
        }
    }

    private void RunPath(DevicePaths.Item item)
    {
        string requested = item.Requested; // this item's name in messages and targets
        try
        {
            DiskIdentity disk = DiskIdentity.Resolve(item.Resolved) with { Requested = item.Requested };
            (ulong rangeOffset, ulong rangeLength) = Range is null ? (0UL, 0UL) : IoRules.ParseRange(Range, disk.Geometry);
            if (IsCompare || Mode == VirtioBlkBenchmarkMode.Passthrough)
            {
                IoRules.ChoosePath(disk, IoPathKind.Passthrough, Vectored, FixedBuffers);
            }

            bool countSet = ParameterSetName == CountSet;
            // A verify pass without a run time or count checks every block of the range once.
            bool onePass = Operation == BenchmarkOperation.Verify && !countSet && !MyInvocation.BoundParameters.ContainsKey(nameof(Seconds));
            var baseOptions = new BenchmarkOptions
            {
                DevicePath = disk.BlockPath,
                BlockSize = BlockSize,
                QueueDepth = QueueDepth,
                SubmitBatch = SubmitBatch,
                CompleteBatch = CompleteBatch,
                Poll = Poll,
                FixedBuffers = FixedBuffers,
                RegisteredFiles = RegisteredFiles,
                Vectored = Vectored,
                Direct = !Buffered,
                SqPoll = SqPoll,
                Threads = Threads,
                CpuAffinity = CpuAffinity,
                Duration = TimeSpan.FromSeconds(Seconds),
                IoCount = countSet ? IoCount : 0,
                OnePass = onePass,
                Pattern = Pattern,
                Operation = Operation,
                ReadPercent = ReadPercent,
                RangeOffset = rangeOffset,
                RangeLength = rangeLength,
                RecordLatency = !NoLatency,
                Seed = Seed,
                Ramp = TimeSpan.FromSeconds(RampSeconds),
                RateIops = RateIops,
                Buffer = Buffer,
                Verify = Verify,
                StopOnMismatch = StopOnMismatch,
            };

            // Every knob is checked against the disk, the kernel and the limits on each path it will run, before
            // anything is opened or allocated (and before -WhatIf/-Confirm).
            foreach (IoPathKind p in PathsOf())
            {
                BenchmarkEngine.Validate(baseOptions with { Path = p, DevicePath = disk.PathFor(p)! });
                WriteVerbose($"{requested}: disk {disk.Disk}, {p} path on {disk.PathFor(p)}: {Threads} thread(s), one ring each of {QueueDepth} entries"
                    + $"{(p == IoPathKind.Passthrough ? " with 128-byte SQEs" : "")}{(Poll ? ", IOPOLL" : "")}{(SqPoll ? ", SQPOLL" : ", COOP_TASKRUN")}, "
                    + $"{(long)BlockSize * QueueDepth} bytes of buffers per ring{(FixedBuffers ? " (registered)" : "")}{(RegisteredFiles ? ", registered file" : "")}, "
                    + $"{Operation} {Pattern} {BlockSize}-byte blocks{(Range is null ? "" : $" in {rangeOffset}+{rangeLength}")}, seed {Seed}.");
            }

            string modeText = IsCompare ? "Compare" : Mode.ToString();
            if (baseOptions.Writes)
            {
                if (!Force && ErrorRecords.WriteRefusal(disk.Disk, requested) is ErrorRecord busy)
                {
                    WriteError(busy);
                    return;
                }
                string what = $"{Operation} benchmark ({modeText}) overwriting {(rangeLength == 0 ? "the whole disk" : $"{rangeLength} bytes at offset {rangeOffset}")}";
                if (!ShouldProcess($"{disk.BlockPath} ({disk.Disk})", what))
                {
                    return;
                }
            }
            else if (WhatIfRequested())
            {
                // A read does not change the disk, so it never asks -Confirm; but -WhatIf still means "do not run".
                ShouldProcess($"{disk.BlockPath} ({disk.Disk})", $"{Operation} benchmark ({modeText}), reading only");
                return;
            }

            if (IsCompare)
            {
                VirtioBlkBenchmarkComparison c = CompareRuns(disk, baseOptions);
                EmitSafely(c);
                foreach (VirtioBlkBenchmarkResult r in c.Runs) ReportMismatches(r);
            }
            else
            {
                IoPathKind path = Mode == VirtioBlkBenchmarkMode.Passthrough ? IoPathKind.Passthrough : IoPathKind.Block;
                VirtioBlkBenchmarkResult r = RunOne(disk, baseOptions with { Path = path, DevicePath = disk.PathFor(path)! }, 1, 1);
                EmitSafely(r);
                ReportMismatches(r);
            }
        }
        catch (Exception e) when (ErrorRecords.IsReportable(e))
        {
            WriteError(ErrorRecords.FromException(e, requested, ParameterName));
        }
    }

    private bool WhatIfRequested()
    {
        if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out object? w))
        {
            return w is SwitchParameter s ? s.IsPresent : LanguagePrimitives.IsTrue(w);
        }
        return LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));
    }

    /// <summary>One error record per reported mismatch, after the result (so -ErrorAction Stop still leaves the result).</summary>
    private void ReportMismatches(VirtioBlkBenchmarkResult r)
    {
        if (r.Mismatches == 0 || _cancel.IsCancellationRequested) return;
        foreach (VirtioBlkMismatch m in r.MismatchDetails)
        {
            WriteError(ErrorRecords.VerifyMismatch(r.Device, m.ToString(), m));
        }
        if (r.Mismatches > r.MismatchDetails.Length)
        {
            WriteWarning($"{r.Mismatches} of {r.BlocksChecked} checked blocks on {r.Path} did not verify; the first {r.MismatchDetails.Length} are reported.");
        }
    }

    private IoPathKind[] PathsOf() => IsCompare
        ? new[] { IoPathKind.Passthrough, IoPathKind.Block }
        : new[] { Mode == VirtioBlkBenchmarkMode.Passthrough ? IoPathKind.Passthrough : IoPathKind.Block };

    protected override void StopProcessing() => _cancel.Cancel();

    private VirtioBlkBenchmarkResult RunOne(DiskIdentity target, BenchmarkOptions o, int round, int runs)
    {
        var progress = new ProgressRecord(0, $"Benchmark {target.Disk} ({o.Path}, {o.Operation}, QD{o.QueueDepth})", "starting");
        DateTimeOffset start = DateTimeOffset.Now;
        BenchmarkRunResult r = BenchmarkEngine.Run(o, _cancel.Token, p =>
        {
            // Called on this (the pipeline) thread by the engine's controller loop, once a second.
            progress.StatusDescription = $"run {round}/{runs}: {p.CurrentIops:N0} IOPS, {p.CompletedIos:N0} I/Os";
            progress.PercentComplete = (int)p.PercentComplete;
            progress.SecondsRemaining = o.IoCount > 0 ? -1 : (int)Math.Max(0, o.Duration.TotalSeconds - p.Elapsed.TotalSeconds);
            if (!_cancel.IsCancellationRequested) WriteProgress(progress);
        });
        if (!_cancel.IsCancellationRequested)
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
        var result = VirtioBlkBenchmarkResult.From(r, target.Disk, start);
        if (r.Errors > 0 && !_cancel.IsCancellationRequested)
        {
            WriteWarning($"{r.Errors} of {r.Errors + r.TotalIos} I/Os on {o.DevicePath} failed ({result.FirstError}); they are counted as errors, not as completed I/Os.");
        }
        return result;
    }

    private VirtioBlkBenchmarkComparison CompareRuns(DiskIdentity target, BenchmarkOptions o)
    {
        var runs = new List<VirtioBlkBenchmarkResult>();
        var ratios = new List<double>();
        int runCount = Rounds * 2;
        for (int round = 0; round < Rounds && !_cancel.IsCancellationRequested; round++)
        {
            // Alternate which path goes first, so neither always runs on a warmer or cooler machine.
            IoPathKind[] order = round % 2 == 0
                ? new[] { IoPathKind.Passthrough, IoPathKind.Block }
                : new[] { IoPathKind.Block, IoPathKind.Passthrough };
            var pair = new Dictionary<IoPathKind, VirtioBlkBenchmarkResult>();
            foreach (IoPathKind path in order)
            {
                if (_cancel.IsCancellationRequested) break;
                VirtioBlkBenchmarkResult r = RunOne(target, o with { Path = path, DevicePath = target.PathFor(path)! }, runs.Count + 1, runCount);
                runs.Add(r);
                pair[path] = r;
            }
            if (pair.Count == 2 && pair[IoPathKind.Block].Iops > 0)
            {
                ratios.Add(pair[IoPathKind.Passthrough].Iops / pair[IoPathKind.Block].Iops);
            }
        }
        return VirtioBlkBenchmarkComparison.From(target.Disk, o, runs, ratios);
    }

    /// <summary>Writes the result; after Ctrl+C the pipeline is stopping, so what ran goes to the host instead.</summary>
    private void EmitSafely(object result)
    {
        if (!_cancel.IsCancellationRequested)
        {
            WriteObject(result);
            return;
        }
        string summary = result switch
        {
            VirtioBlkBenchmarkResult r => $"Stopped: {r.TotalIos:N0} I/Os in {r.Seconds:0.###} s ({r.Iops:N0} IOPS, {r.Errors} errors) on {r.Path}; in-flight I/O was drained.",
            VirtioBlkBenchmarkComparison c => $"Stopped after {c.Runs.Length} runs: passthrough median {c.PassthroughMedianIops:N0} IOPS, block median {c.BlockMedianIops:N0} IOPS; in-flight I/O was drained.",
            _ => "Stopped.",
        };
        try
        {
            Host.UI.WriteLine(summary);
        }
        catch (PipelineStoppedException)
        {
            // Nothing more can be said once the host has stopped the pipeline.
        }
    }
}
