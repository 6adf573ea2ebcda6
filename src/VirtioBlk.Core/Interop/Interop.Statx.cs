using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    internal const int AT_FDCWD = -100;
    internal const uint STATX_TYPE = 0x1;
    internal const uint STATX_SIZE = 0x200;

    /// <summary>statx(2) of a path (dirfd is AT_FDCWD, not a handle): its struct has one layout on every architecture, unlike struct stat.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Statx(int dirfd, string path, int flags, uint mask, Abi.Statx* buf);
}
