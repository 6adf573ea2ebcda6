using System;
using System.Diagnostics;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>Long runs on a loop device: exactly-once completion, no managed allocation per I/O, drain on dispose.</summary>
[Collection(nameof(Isolated))]
public sealed unsafe class StressAndAllocationTests
{
    private const int BlockSize = 4096;

    /// <summary>
    /// Random 4 KiB O_DIRECT reads at depth <paramref name="depth"/> with registered files and buffers on a 128-byte-SQE
    /// ring: submit in batches, wait for at least <paramref name="waitMin"/>. Each user_data is the I/O's sequence
    /// number; <paramref name="seen"/> (when given) records each completion.
    /// </summary>
    private static long ReadLoop(IoUring ring, long ioCount, int depth, int batch, uint waitMin, ulong blocks, bool[]? seen, ulong firstId = 0)
    {
        ulong next = firstId, end = firstId + (ulong)ioCount, done = 0;
        ulong rng = 0x9E3779B97F4A7C15;
        Span<IoUringCqe> cqes = stackalloc IoUringCqe[64];
        long errors = 0;
        while (done < (ulong)ioCount)
        {
            int prepared = 0;
            while (next < end && ring.InFlight + ring.Unsubmitted < depth && prepared < batch)
            {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                int slot = (int)(next % (ulong)depth);
                AlignedBuffer buf = ring.GetRegisteredBuffer(0);
                IoUringSqe* sqe = ring.GetSqe();
                Sqe.PrepRw(sqe, IoUringOp.ReadFixed, 0, (ulong)(buf.Pointer + slot * BlockSize), BlockSize, rng % blocks * BlockSize, next);
                Sqe.SetFixedFile(sqe);
                next++;
                prepared++;
            }
            ring.SubmitAndWait(Math.Min(waitMin, (uint)(ring.InFlight)));
            int n;
            while ((n = ring.PeekCompletions(cqes)) > 0)
            {
                for (int i = 0; i < n; i++)
                {
                    if (cqes[i].Res != BlockSize) errors++;
                    if (seen is not null)
                    {
                        ulong id = cqes[i].UserData;
                        Assert.False(seen[id], $"user_data {id} completed twice");
                        seen[id] = true;
                    }
                }
                done += (ulong)n;
            }
        }
        return errors;
    }

    private static (LoopDevice loop, SafeFileDescriptor fd, AlignedBuffer buf, IoUring ring) Setup(int depth)
    {
        LoopDevice loop = LoopDevice.Create(64 << 20);
        SafeFileDescriptor fd = SafeFileDescriptor.Open(loop.Path, Interop.Sys.O_RDONLY | Interop.Sys.O_DIRECT);
        var buf = new AlignedBuffer(depth * BlockSize);
        var ring = new IoUring(new IoUringOptions { Entries = (uint)depth, Flags = IoUringSetupFlags.Sqe128 | IoUringSetupFlags.SingleIssuer });
        ring.RegisterFiles(fd);
        ring.RegisterBuffers(new[] { buf });
        ring.TryRegisterRingFd();
        return (loop, fd, buf, ring);
    }

    [Fact]
    public void AMillionReadsAtDepth128CompleteExactlyOnce()
    {
        const int Count = 1_000_000;
        var (loop, fd, buf, ring) = Setup(128);
        using (loop) using (fd) using (buf) using (ring)
        {
            var seen = new bool[Count];
            var sw = Stopwatch.StartNew();
            long errors = ReadLoop(ring, Count, 128, 32, 32, (ulong)(loop.Size / BlockSize), seen);
            sw.Stop();
            Assert.Equal(0, errors);
            Assert.DoesNotContain(false, seen);
            Assert.Equal(0, ring.InFlight);
            Assert.Equal(0u, ring.CqOverflowCount);
            TestContext.Current.SendDiagnosticMessage($"stress: {Count} reads in {sw.Elapsed.TotalSeconds:F2} s = {Count / sw.Elapsed.TotalSeconds:F0} IOPS");
            Console.WriteLine($"[stress] {Count} reads at depth 128 in {sw.Elapsed.TotalSeconds:F2} s ({Count / sw.Elapsed.TotalSeconds:F0} IOPS), every user_data once");
        }
    }

    [Fact]
    public void TheSteadyStateAllocatesNothingPerIo()
    {
        var (loop, fd, buf, ring) = Setup(32);
        using (loop) using (fd) using (buf) using (ring)
        {
            ulong blocks = (ulong)(loop.Size / BlockSize);
            ReadLoop(ring, 20_000, 32, 8, 8, blocks, null); // warm-up: JIT, tiering
            long before = GC.GetAllocatedBytesForCurrentThread();
            long errors = ReadLoop(ring, 100_000, 32, 8, 8, blocks, null);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Console.WriteLine($"[alloc] {allocated} bytes allocated over 100000 I/Os ({allocated / 100000.0:F3} per I/O)");
            Assert.Equal(0, errors);
            Assert.Equal(0, allocated);
        }
    }

    [Fact]
    public void DisposingWithIoInFlightWaitsForTheKernel()
    {
        var (loop, fd, buf, ring) = Setup(128);
        using (loop) using (fd)
        {
            for (int i = 0; i < 128; i++)
            {
                IoUringSqe* sqe = ring.GetSqe();
                Sqe.PrepRw(sqe, IoUringOp.ReadFixed, 0, (ulong)(buf.Pointer + i * BlockSize), BlockSize, (ulong)i * BlockSize, (ulong)i);
                Sqe.SetFixedFile(sqe);
            }
            ring.Submit();
            IoUringSqe* unsubmitted = ring.GetSqe(); // prepared half-way and never submitted: drained as a NOP
            Assert.True(unsubmitted != null);
            Assert.True(ring.InFlight > 0);
            ring.Dispose();
            Assert.Equal(0, ring.InFlight);
            // The ring held a reference to the registered buffer: it is still ours to free, once.
            Assert.False(buf.IsClosed);
            buf.Dispose();
            Assert.True(buf.IsClosed);
        }
    }

    [Fact]
    public void NoFdLeaksOverAThousandSessions()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20);
        byte[] data = new byte[4096];
        for (int i = 0; i < 5; i++) { using var s = Devices.SectorIoSession.Open(loop.Path, new Devices.SectorIoOptions()); s.Read(0, data); }
        bool Owned(string target) => Rings.IsIoUring(target) || target == loop.Path;
        int before = Rings.OpenFdCount(Owned);
        for (int i = 0; i < 1000; i++)
        {
            using var s = Devices.SectorIoSession.Open(loop.Path, new Devices.SectorIoOptions { FixedBuffer = i % 2 == 0 });
            s.Read((ulong)(i % 200) * 8, data);
        }
        Assert.Throws<Io.IoRequestException>(() => Devices.SectorIoSession.Open(loop.Path, new Devices.SectorIoOptions { Poll = true }));
        Assert.Equal(before, Rings.OpenFdCount(Owned));
    }
}
