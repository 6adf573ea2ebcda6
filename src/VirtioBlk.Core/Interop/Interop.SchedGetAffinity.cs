using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    /// <summary>sched_getaffinity(2): the CPUs the thread <paramref name="pid"/> (0: the caller) may run on.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sched_getaffinity", SetLastError = true)]
    internal static partial int SchedGetAffinity(int pid, nuint cpusetsize, ulong* mask);
}
