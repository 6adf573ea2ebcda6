using System;
using System.Diagnostics;
using System.Threading;

namespace VirtioBlk.Core.Native;

/// <summary>
/// What the process has deliberately left allocated because the kernel might still write it: a ring whose drain
/// could not confirm that nothing is in flight keeps its mappings and registered buffers, and callers leak their
/// own buffers the same way (<see cref="AlignedBuffer.Leak"/>). Freeing such memory would let a late DMA or
/// completion land in whatever reuses it; leaking costs only the bytes counted here.
/// </summary>
public static class NativeMemoryLeaks
{
    private static long s_bytes;
    private static long s_count;

    /// <summary>Native bytes leaked so far in this process.</summary>
    public static long Bytes => Interlocked.Read(ref s_bytes);

    /// <summary>Objects (buffers, rings) leaked so far in this process.</summary>
    public static long Count => Interlocked.Read(ref s_count);

    /// <summary>Raised (on the leaking thread) after each leak is counted.</summary>
    public static event Action<NativeMemoryLeak>? Leaked;

    internal static void Record(long bytes, string what, string reason)
    {
        Interlocked.Add(ref s_bytes, bytes);
        Interlocked.Increment(ref s_count);
        var leak = new NativeMemoryLeak(bytes, what, reason);
        Trace.TraceWarning($"VirtioBlk: leaking {bytes} bytes ({what}): {reason}");
        try
        {
            Leaked?.Invoke(leak);
        }
        catch (Exception e)
        {
            // A leak is recorded from Dispose, which must not throw; a faulty subscriber is reported, not propagated.
            Trace.TraceError($"VirtioBlk: a NativeMemoryLeaks.Leaked handler threw: {e}");
        }
    }
}

/// <summary>One leak: how many bytes, of what, and why.</summary>
public sealed record NativeMemoryLeak(long Bytes, string What, string Reason);
