using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static partial class Sys
{
    internal const int O_RDONLY = 0x0;
    internal const int O_WRONLY = 0x1;
    internal const int O_RDWR = 0x2;
    internal const int O_CLOEXEC = 0x80000;
    // O_DIRECT and O_EXCL differ between architectures; only x86-64 and arm64 are supported.
    internal static int O_DIRECT => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x10000 : 0x4000;
    internal const int O_EXCL = 0x80;

    /// <summary>open(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, int mode);

    /// <summary>close(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    /// <summary>fsync(2).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "fsync", SetLastError = true)]
    internal static partial int Fsync(int fd);
}
