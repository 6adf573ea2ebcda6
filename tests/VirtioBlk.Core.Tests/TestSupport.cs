using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>A loop device over a tmpfs file, detached and deleted on dispose. Skips when not root.</summary>
internal sealed class LoopDevice : IDisposable
{
    private LoopDevice(string path, string backingFile, long size, int sectorSize)
    {
        Path = path;
        BackingFile = backingFile;
        Size = size;
        SectorSize = sectorSize;
    }

    public string Path { get; }
    public string BackingFile { get; }
    public long Size { get; }
    public int SectorSize { get; }

    public static LoopDevice Create(long size = 16 << 20, int sectorSize = 512)
    {
        Require.Root();
        Require.Tool("losetup");
        string file = System.IO.Path.Combine("/dev/shm", $"virtioblk-test-{Guid.NewGuid():N}.img");
        using (var fs = new FileStream(file, FileMode.CreateNew))
        {
            fs.SetLength(size);
        }
        try
        {
            string dev = Shell.Run("losetup", "--find", "--show", "--direct-io=off", "--sector-size", sectorSize.ToString(), file).Trim();
            return new LoopDevice(dev, file, size, sectorSize);
        }
        catch
        {
            File.Delete(file);
            throw;
        }
    }

    public void Dispose()
    {
        try { Shell.Run("losetup", "-d", Path); }
        finally { File.Delete(BackingFile); }
    }
}

/// <summary>A temporary regular file on tmpfs, for tests that need no root.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(long size)
    {
        string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();
        Path = System.IO.Path.Combine(dir, $"virtioblk-test-{Guid.NewGuid():N}.dat");
        using var fs = new FileStream(Path, FileMode.CreateNew);
        fs.SetLength(size);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}

internal static unsafe class Rings
{
    public static IoUring Create(uint entries = 64, IoUringSetupFlags flags = IoUringSetupFlags.None)
        => new(new IoUringOptions { Entries = entries, Flags = flags });

    /// <summary>Submits one prepared SQE and returns its completion.</summary>
    public static IoUringCqe SubmitOne(IoUring ring)
    {
        ring.SubmitAndWait(1);
        return ring.WaitCompletion();
    }

    public static void Fill(Span<byte> span, int seed)
    {
        var rng = new Random(seed);
        rng.NextBytes(span);
    }

    /// <summary>
    /// The process's open fds that this test owns -- those whose target <paramref name="owned"/> accepts (an io_uring
    /// anon inode, a loop device) -- after finalizers have closed whatever earlier tests dropped. Counting only them
    /// keeps the xunit runner's own files (its report, its pipes) out of the count.
    /// </summary>
    public static int OpenFdCount(Func<string, bool> owned)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int n = 0;
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target = null;
            try { target = new FileInfo(fd).LinkTarget; } catch (IOException) { } // closed since the listing
            if (target is not null && owned(target)) n++;
        }
        return n;
    }

    public static bool IsIoUring(string fdTarget) => fdTarget.Contains("io_uring", StringComparison.Ordinal);
}

/// <summary>Runs a test body on its own thread and fails, rather than hangs, when it does not end in time.</summary>
internal static class Bounded
{
    public static void Run(TimeSpan limit, Action body)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? error = null;
        var thread = new System.Threading.Thread(() =>
        {
            try { body(); }
            catch (Exception e) { error = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
        }) { IsBackground = true, Name = "bounded test body" };
        thread.Start();
        if (!thread.Join(limit))
        {
            Assert.Fail($"The test body hung: still running after {limit.TotalSeconds:0} s (the thread is left behind).");
        }
        error?.Throw();
    }
}

/// <summary>Tests that count the process's fds or allocations run alone, so no other test's fds or garbage blur the count.</summary>
[CollectionDefinition(nameof(Isolated), DisableParallelization = true)]
public sealed class Isolated { }
