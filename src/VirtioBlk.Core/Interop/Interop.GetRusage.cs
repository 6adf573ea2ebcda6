using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    internal const int RUSAGE_THREAD = 1;

    /// <summary>struct rusage: only the two timevals the project reads (the rest is 14 longs).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Rusage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public fixed long Rest[14];
    }

    /// <summary>getrusage(2): RUSAGE_THREAD gives the calling thread's CPU time.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "getrusage", SetLastError = true)]
    internal static partial int GetRusage(int who, Rusage* usage);
}
