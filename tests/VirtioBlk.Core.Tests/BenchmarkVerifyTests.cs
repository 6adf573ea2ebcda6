using System;
using System.IO;
using System.Linq;
using VirtioBlk.Core.Bench;
using VirtioBlk.Core.Io;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>Verified writes and verify passes on loop devices, with blocks changed behind the engine's back.</summary>
[Collection(nameof(Isolated))]
public sealed class BenchmarkVerifyTests
{
    private const int Bs = 4096;

    private static BenchmarkOptions WritePass(LoopDevice loop, ulong seed = 11) => new()
    {
        DevicePath = loop.Path, Operation = BenchmarkOperation.Write, Verify = true, Pattern = BenchmarkPattern.Sequential,
        OnePass = true, QueueDepth = 16, SubmitBatch = 4, CompleteBatch = 4, Seed = seed,
    };

    private static BenchmarkOptions VerifyPass(LoopDevice loop, ulong seed = 11, int threads = 2, int depth = 32) => new()
    {
        DevicePath = loop.Path, Operation = BenchmarkOperation.Verify, Pattern = BenchmarkPattern.Sequential, OnePass = true,
        QueueDepth = depth, SubmitBatch = 8, CompleteBatch = 8, Threads = threads, Seed = seed,
    };

    /// <summary>Changes bytes of the loop's backing file with plain writes (tmpfs: the file's pages are what the loop reads).</summary>
    private static void Poke(LoopDevice loop, long at, ReadOnlySpan<byte> bytes)
    {
        using (var fs = new FileStream(loop.BackingFile, FileMode.Open, FileAccess.Write))
        {
            fs.Position = at;
            fs.Write(bytes);
            fs.Flush(true);
        }
        Shell.Run("blockdev", "--flushbufs", loop.Path); // the engine reads with O_DIRECT; drop the bdev cache anyway
    }

    [Fact]
    public void AVerifyPassReportsExactlyTheBlockChangedBehindItsBack()
    {
        using LoopDevice loop = LoopDevice.Create(8 << 20);
        BenchmarkRunResult w = BenchmarkEngine.Run(WritePass(loop));
        long blocks = (8 << 20) / Bs;
        Assert.Equal(0, w.Errors);
        Assert.Equal(blocks, w.WritesIssued);
        Assert.Equal(blocks, w.BlocksChecked);
        Assert.Equal(0, w.Mismatches);

        const long Victim = 777;
        Poke(loop, Victim * Bs + 1000, new byte[] { 0xFF, 0x00, 0xFF }); // inside the payload: a torn/corrupted block

        BenchmarkRunResult v = BenchmarkEngine.Run(VerifyPass(loop));
        Assert.Equal(blocks, v.BlocksChecked);
        Assert.Equal(blocks, v.TotalIos);
        Assert.Equal(1, v.Mismatches);
        BenchmarkMismatch m = Assert.Single(v.MismatchDetails);
        Assert.Equal((ulong)(Victim * Bs), m.Offset);
        Assert.Equal(BlockVerdict.Corrupt, m.Verdict);
        Assert.Equal(m.Offset, m.HeaderOffset); // the header still says which block it was
        Assert.Equal(1UL, m.HeaderGeneration);
    }

    [Fact]
    public void AMisdirectedBlockIsToldApartFromACorruptOne()
    {
        using LoopDevice loop = LoopDevice.Create(4 << 20);
        BenchmarkEngine.Run(WritePass(loop));
        byte[] block5 = new byte[Bs];
        using (var fs = new FileStream(loop.BackingFile, FileMode.Open, FileAccess.Read))
        {
            fs.Position = 5 * Bs;
            fs.ReadExactly(block5);
        }
        Poke(loop, 200 * Bs, block5);           // block 5's bytes land at block 200: a misdirected write
        Poke(loop, 300 * Bs, new byte[Bs]);     // zeroes: never written

        BenchmarkRunResult v = BenchmarkEngine.Run(VerifyPass(loop, threads: 1, depth: 8));
        Assert.Equal(2, v.Mismatches);
        Assert.Equal(new[] { 200UL * Bs, 300UL * Bs }, v.MismatchDetails.Select(m => m.Offset));
        Assert.Equal(BlockVerdict.Misdirected, v.MismatchDetails[0].Verdict);
        Assert.Equal(5UL * Bs, v.MismatchDetails[0].HeaderOffset);
        Assert.Equal(BlockVerdict.NoHeader, v.MismatchDetails[1].Verdict);
    }

    [Fact]
    public void AVerifyPassWithAnotherSeedFindsEveryBlockForeignAndStopOnMismatchStopsEarly()
    {
        using LoopDevice loop = LoopDevice.Create(4 << 20);
        BenchmarkEngine.Run(WritePass(loop, seed: 5));
        BenchmarkRunResult v = BenchmarkEngine.Run(VerifyPass(loop, seed: 6, threads: 1, depth: 4));
        Assert.Equal(v.BlocksChecked, v.Mismatches);
        Assert.All(v.MismatchDetails, m => Assert.Equal(BlockVerdict.OtherSeed, m.Verdict));
        Assert.All(v.MismatchDetails, m => Assert.Equal(5UL, m.HeaderSeed));

        BenchmarkRunResult s = BenchmarkEngine.Run(VerifyPass(loop, seed: 6, threads: 1, depth: 4) with { StopOnMismatch = true });
        Assert.InRange(s.BlocksChecked, 1, 4); // the first mismatch stops issuing; what was in flight is drained
    }

    [Theory]
    [InlineData(BenchmarkPattern.Random, 1, 1, false, false)]
    [InlineData(BenchmarkPattern.Random, 32, 2, true, true)]
    [InlineData(BenchmarkPattern.Sequential, 8, 2, false, true)]
    [InlineData(BenchmarkPattern.Sequential, 128, 1, true, false)]
    public void VerifiedWritesCheckEveryBlockAtAnyDepthOnSeveralThreads(BenchmarkPattern pattern, int depth, int threads, bool fixedBuffers, bool vectored)
    {
        using LoopDevice loop = LoopDevice.Create(16 << 20);
        BenchmarkRunResult w = BenchmarkEngine.Run(new BenchmarkOptions
        {
            DevicePath = loop.Path, Operation = BenchmarkOperation.Write, Verify = true, Pattern = pattern, QueueDepth = depth,
            SubmitBatch = Math.Min(depth, 8), CompleteBatch = Math.Min(depth, 8), Threads = threads, IoCount = 3000,
            FixedBuffers = fixedBuffers, Vectored = vectored, Seed = 99,
        });
        Assert.Equal(0, w.Errors);
        Assert.Equal(3000L * threads, w.WritesIssued);
        Assert.Equal(3000L * threads, w.BlocksChecked);
        Assert.Equal(2 * 3000L * threads, w.TotalIos);
        Assert.Equal(0, w.Mismatches);
    }

    [Fact]
    public void TheSameSeedWritesTheSameBytesAndAnotherSeedOthers()
    {
        byte[] Image(ulong seed)
        {
            using LoopDevice loop = LoopDevice.Create(2 << 20);
            BenchmarkEngine.Run(new BenchmarkOptions
            {
                DevicePath = loop.Path, Operation = BenchmarkOperation.Write, QueueDepth = 1, SubmitBatch = 1, CompleteBatch = 1,
                IoCount = 300, Seed = seed, Buffer = BenchmarkBuffer.Random,
            });
            return File.ReadAllBytes(loop.BackingFile);
        }
        byte[] a = Image(3), b = Image(3), c = Image(4);
        Assert.True(a.AsSpan().SequenceEqual(b), "the same seed wrote other bytes or offsets");
        Assert.False(a.AsSpan().SequenceEqual(c), "another seed wrote the same bytes at the same offsets");
        Assert.True(a.AsSpan().IndexOfAnyExcept((byte)0) >= 0);
    }

    [Fact]
    public void RandomBuffersAreNotAConstantByte()
    {
        using LoopDevice loop = LoopDevice.Create(2 << 20);
        BenchmarkEngine.Run(new BenchmarkOptions
        {
            DevicePath = loop.Path, Operation = BenchmarkOperation.Write, Pattern = BenchmarkPattern.Sequential, QueueDepth = 4, IoCount = 512,
        });
        byte[] disk = File.ReadAllBytes(loop.BackingFile);
        Assert.True(disk.Distinct().Count() > 200, "random data should use (nearly) every byte value");
    }

    [Fact]
    public void VerificationIsRefusedWhereItCannotWork()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20);
        var ok = new BenchmarkOptions { DevicePath = loop.Path, IoCount = 10 };
        Assert.Equal(IoProblem.VerifyNeedsWrite, Assert.Throws<IoRequestException>(() => BenchmarkEngine.Validate(ok with { Verify = true })).Problem);
        Assert.Equal(IoProblem.VerifyNeedsWrite, Assert.Throws<IoRequestException>(() =>
            BenchmarkEngine.Validate(ok with { Verify = true, Operation = BenchmarkOperation.Mixed })).Problem);
        // 64 KiB = 16 blocks: fewer than a queue of 32 sequential verified writes.
        var e = Assert.Throws<IoRequestException>(() => BenchmarkEngine.Validate(ok with
        {
            Verify = true, Operation = BenchmarkOperation.Write, Pattern = BenchmarkPattern.Sequential, QueueDepth = 32, RangeLength = 64 << 10,
        }));
        Assert.Equal((IoProblem.VerifyRangeTooSmall, IoKnob.Range), (e.Problem, e.Knob));
        BenchmarkEngine.Validate(ok with { Operation = BenchmarkOperation.Verify, RangeLength = 64 << 10, QueueDepth = 32 }); // reads: fine
    }
}

/// <summary>Ramp, rate, per-second samples and the CPU mask.</summary>
[Collection(nameof(Isolated))]
public sealed class BenchmarkReproducibilityTests
{
    [Fact]
    public void AOneSecondRunHasASampleAndTheSamplesSumToTheTotal()
    {
        using LoopDevice loop = LoopDevice.Create(16 << 20);
        BenchmarkRunResult r = BenchmarkEngine.Run(new BenchmarkOptions { DevicePath = loop.Path, QueueDepth = 8, SubmitBatch = 4, CompleteBatch = 4, Duration = TimeSpan.FromSeconds(1) });
        Assert.NotEmpty(r.IopsPerSecond);
        Assert.Equal(r.TotalIos, r.IopsPerSecond.Sum());
        Assert.Equal(r.TotalIos, r.TotalLatency!.Count);
    }

    [Fact]
    public void TheRampIsExcludedFromEveryFigure()
    {
        using LoopDevice loop = LoopDevice.Create(16 << 20);
        BenchmarkRunResult r = BenchmarkEngine.Run(new BenchmarkOptions
        {
            DevicePath = loop.Path, QueueDepth = 8, SubmitBatch = 4, CompleteBatch = 4, Duration = TimeSpan.FromSeconds(1), Ramp = TimeSpan.FromSeconds(1),
        });
        Assert.InRange(r.Elapsed.TotalSeconds, 0.95, 1.9); // the measured second, not the two the run took
        Assert.InRange(r.IopsPerSecond.Length, 1, 2);
        Assert.Equal(r.TotalIos, r.IopsPerSecond.Sum());
        Assert.Equal(r.TotalIos, r.TotalLatency!.Count);
        Assert.Equal(r.TotalIos, r.ReapedIos);
        Assert.InRange(r.UserCpu.TotalSeconds + r.SystemCpu.TotalSeconds, 0, 1.9);
    }

    [Fact]
    public void TheRateCapHoldsForTheWholeRunSharedByThreads()
    {
        using LoopDevice loop = LoopDevice.Create(16 << 20);
        BenchmarkRunResult r = BenchmarkEngine.Run(new BenchmarkOptions
        {
            DevicePath = loop.Path, QueueDepth = 16, SubmitBatch = 4, CompleteBatch = 4, Threads = 2, RateIops = 2000, Duration = TimeSpan.FromSeconds(1.5),
        });
        Assert.Equal(0, r.Errors);
        // The cap is an upper bound: 2000/s for the run plus one I/O per thread of burst, whatever the machine's speed.
        Assert.InRange(r.TotalIos, 1, (long)(2000 * r.Elapsed.TotalSeconds * 1.05) + 2);
        Assert.InRange(r.TotalIos, 2000 * 1.5 * 0.5, 2000 * 1.5 * 1.1); // and a loop device keeps up with 2000/s
    }

    [Fact]
    public void ThreadsArePinnedInsideTheProcessMaskAndCpusOutsideItAreRefused()
    {
        using LoopDevice loop = LoopDevice.Create(4 << 20);
        int[] allowed = CpuMask.Allowed();
        Assert.NotEmpty(allowed);
        var o = new BenchmarkOptions { DevicePath = loop.Path, Threads = allowed.Length + 1, QueueDepth = 2, IoCount = 10 };
        int[] cpus = BenchmarkEngine.ThreadCpus(o);
        Assert.All(cpus, c => Assert.Contains(c, allowed));
        BenchmarkRunResult r = BenchmarkEngine.Run(o with { CpuAffinity = new[] { allowed[^1] } });
        Assert.Equal(new[] { allowed[^1] }, r.ThreadCpus.Distinct());
        int outside = Enumerable.Range(0, CpuMask.MaxCpus).First(c => !allowed.Contains(c));
        var e = Assert.Throws<IoRequestException>(() => BenchmarkEngine.Validate(o with { CpuAffinity = new[] { outside } }));
        Assert.Equal((IoProblem.CpuNotAllowed, IoKnob.CpuAffinity), (e.Problem, e.Knob));
        Assert.Contains(CpuMask.Describe(allowed), e.Message);
    }
}
