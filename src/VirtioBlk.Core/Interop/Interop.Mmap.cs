using System.Runtime.InteropServices;
using VirtioBlk.Core.Native;

namespace VirtioBlk.Core.Interop;

internal static partial class Sys
{
    internal const int PROT_READ = 0x1;
    internal const int PROT_WRITE = 0x2;
    internal const int MAP_SHARED = 0x01;
    internal const int MAP_POPULATE = 0x8000;
    internal static readonly nint MAP_FAILED = -1;

    /// <summary>mmap(2) of a file (the ring's fd); the fd is kept alive for the call by the marshaller's AddRef.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
    internal static partial nint Mmap(nint addr, nuint length, int prot, int flags, SafeFileDescriptor fd, long offset);
}
