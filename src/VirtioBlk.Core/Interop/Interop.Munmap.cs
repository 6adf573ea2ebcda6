using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static partial class Sys
{
    /// <summary>munmap(2). Only <see cref="Native.SafeMmapRegion"/>'s release calls it, with the mapping it owns.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int Munmap(nint addr, nuint length);
}
