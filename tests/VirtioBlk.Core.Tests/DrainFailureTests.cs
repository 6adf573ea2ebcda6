using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>
/// When Dispose cannot confirm that the kernel is done, it frees nothing the kernel may write: the rings and the
/// registered buffers are leaked and counted, and the ring says so. Both failures are real kernel conditions: I/O
/// blocked on a frozen filesystem (which no cancel can interrupt), and an io_uring_enter that fails. These leak on
/// purpose and read the process-wide leak counter, so they run alone.
/// </summary>
[Collection(nameof(Isolated))]
public sealed unsafe class DrainFailureTests
{
    [Fact]
    public void IoBlockedPastTheDrainTimeoutIsLeakedNotFreed() => Bounded.Run(TimeSpan.FromSeconds(60), () =>
    {
        Require.Root();
        Require.Tool("mkfs.ext4");
        Require.Tool("fsfreeze");
        Require.Tool("mount");
        using LoopDevice loop = LoopDevice.Create(16 << 20);
        Shell.Run("mkfs.ext4", "-q", "-F", loop.Path);
        string mnt = Directory.CreateTempSubdirectory("virtioblk-frozen-").FullName;
        Shell.Run("mount", loop.Path, mnt);
        try
        {
            string file = Path.Combine(mnt, "data");
            File.WriteAllBytes(file, new byte[8192]);
            using (SafeFileDescriptor fd = SafeFileDescriptor.Open(file, Interop.Sys.O_RDWR))
            {
                var registered = new AlignedBuffer(4096);
                var plain = new AlignedBuffer(4096);
                registered.Span.Fill(0xA1);
                plain.Span.Fill(0xB2);
                var ring = new IoUring(new IoUringOptions { Entries = 4, DrainTimeout = TimeSpan.FromMilliseconds(300) });
                ring.RegisterBuffers(new[] { registered });
                long bytesBefore = NativeMemoryLeaks.Bytes, countBefore = NativeMemoryLeaks.Count;
                var leaks = new System.Collections.Concurrent.ConcurrentQueue<NativeMemoryLeak>();
                void OnLeak(NativeMemoryLeak l) => leaks.Enqueue(l);
                NativeMemoryLeaks.Leaked += OnLeak;
                Shell.Run("fsfreeze", "--freeze", mnt);
                try
                {
                    // Writes to a frozen filesystem wait in sb_start_write, uninterruptibly: the drain's cancel cannot end them.
                    Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.WriteFixed, fd.Fd, (ulong)(registered.Pointer), 4096, 0, 1);
                    Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.Write, fd.Fd, (ulong)(plain.Pointer), 4096, 4096, 2);
                    ring.Submit();
                    Assert.False(ring.WaitCompletions(1, TimeSpan.FromMilliseconds(200)), "a write completed on a frozen filesystem");

                    var sw = Stopwatch.StartNew();
                    ring.Dispose(); // must not throw, must not hang, must not free
                    Assert.InRange(sw.Elapsed.TotalSeconds, 0.2, 20);
                    Assert.True(ring.KernelMayOwnMemory);
                    Assert.True(registered.IsLeaked, "the registered buffer was released while the kernel may write it");
                    Assert.False(plain.IsLeaked); // the ring does not know the caller's non-registered buffers...
                    plain.Leak();                 // ...so the caller leaks them, as the ring told it to
                    Assert.True(plain.IsLeaked);
                    Assert.True(NativeMemoryLeaks.Count - countBefore >= 3); // rings, registered buffer, plain buffer
                    Assert.True(NativeMemoryLeaks.Bytes - bytesBefore > 2 * 4096, $"{NativeMemoryLeaks.Bytes - bytesBefore} bytes counted"); // + the rings
                    Assert.Contains(leaks, l => l.What.Contains("io_uring") && l.Reason.Contains("drain timeout"));
                    registered.Dispose(); // drops the handles; the memory stays
                    plain.Dispose();
                }
                finally
                {
                    NativeMemoryLeaks.Leaked -= OnLeak;
                    Shell.Run("fsfreeze", "--unfreeze", mnt);
                }
                // Thawed, the writes complete from the leaked memory, which is still what we filled it with.
                byte[] expected = Enumerable.Repeat((byte)0xA1, 4096).Concat(Enumerable.Repeat((byte)0xB2, 4096)).ToArray();
                var wait = Stopwatch.StartNew();
                while (!File.ReadAllBytes(file).AsSpan().SequenceEqual(expected))
                {
                    Assert.True(wait.Elapsed < TimeSpan.FromSeconds(15), "the writes did not complete after the thaw");
                    Thread.Sleep(20);
                }
            }
        }
        finally
        {
            Unmount(mnt);
        }
    });

    [Fact]
    public void AnEnterThatFailsDuringTheDrainLeaksInsteadOfFreeing() => Bounded.Run(TimeSpan.FromSeconds(30), () =>
    {
        // A read on an empty socket stays in flight; then the ring's fd number is made to name /dev/null, so the
        // drain's io_uring_enter fails with EOPNOTSUPP (the mappings keep the real ring, and the read, alive).
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var buf = new AlignedBuffer(4096);
        var ring = new IoUring(new IoUringOptions { Entries = 4 });
        ring.RegisterBuffers(new[] { buf });
        Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.Read, (int)udp.SafeHandle.DangerousGetHandle(), (ulong)(buf.Pointer), 16, 0, 1);
        ring.Submit();
        Assert.Equal(1, ring.InFlight);
        long countBefore = NativeMemoryLeaks.Count;
        using (SafeFileDescriptor devNull = SafeFileDescriptor.Open("/dev/null", Interop.Sys.O_RDONLY))
        {
            Assert.True(Dup2(devNull.Fd, ring.RawRingFd) >= 0, $"dup2: errno {Marshal.GetLastPInvokeError()}");
        }
        ring.Dispose(); // the enter throws inside; Dispose must not
        Assert.True(ring.KernelMayOwnMemory);
        Assert.True(buf.IsLeaked);
        Assert.True(NativeMemoryLeaks.Count - countBefore >= 2);
        ring.Dispose(); // still idempotent
        buf.Dispose();
    });

    [Fact]
    public void ADrainedRingFreesEverythingAndLeaksNothing()
    {
        using LoopDevice loop = LoopDevice.Create(1 << 20);
        long before = NativeMemoryLeaks.Bytes;
        var buf = new AlignedBuffer(64 * 4096);
        using (SafeFileDescriptor fd = SafeFileDescriptor.Open(loop.Path, Interop.Sys.O_RDONLY | Interop.Sys.O_DIRECT))
        {
            var ring = new IoUring(new IoUringOptions { Entries = 64 });
            ring.RegisterBuffers(new[] { buf });
            for (int i = 0; i < 64; i++)
                Sqe.PrepRw(ring.GetSqeOrThrow(), IoUringOp.ReadFixed, fd.Fd, (ulong)(buf.Pointer + i * 4096), 4096, (ulong)i * 4096, (ulong)i);
            ring.Submit();
            ring.Dispose();
            Assert.False(ring.KernelMayOwnMemory);
        }
        Assert.False(buf.IsLeaked);
        buf.Dispose();
        Assert.True(buf.IsClosed);
        Assert.Equal(before, NativeMemoryLeaks.Bytes);
    }

    [Fact]
    public void LeakingAFreedBufferDoesNothing()
    {
        long before = NativeMemoryLeaks.Count;
        var b = new AlignedBuffer(512);
        b.Dispose();
        b.Leak();
        Assert.False(b.IsLeaked);
        Assert.Equal(before, NativeMemoryLeaks.Count);
    }

    private static void Unmount(string mnt)
    {
        // The leaked ring holds no file: once the thawed writes completed the mount is free (retry while it settles).
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                Shell.Run("umount", mnt);
                break;
            }
            catch (InvalidOperationException) when (sw.Elapsed < TimeSpan.FromSeconds(15))
            {
                Thread.Sleep(100);
            }
        }
        Directory.Delete(mnt);
    }

    [DllImport("libc.so.6", EntryPoint = "dup2", SetLastError = true)]
    private static extern int Dup2(int oldFd, int newFd);
}
