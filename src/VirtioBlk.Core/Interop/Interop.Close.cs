using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static partial class Sys
{
    /// <summary>close(2). Only <see cref="Native.SafeFileDescriptor"/>'s release calls it, with the fd it owns.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
