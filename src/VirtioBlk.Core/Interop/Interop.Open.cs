using System.Runtime.InteropServices;
using VirtioBlk.Core.Native;

namespace VirtioBlk.Core.Interop;

internal static partial class Sys
{
    internal const int O_RDONLY = 0x0;
    internal const int O_RDWR = 0x2;
    internal const int O_CLOEXEC = 0x80000;
    // O_DIRECT and O_EXCL differ between architectures; only x86-64 and arm64 are supported.
    internal static int O_DIRECT => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x10000 : 0x4000;
    internal const int O_EXCL = 0x80;

    /// <summary>
    /// open(2): the new fd, or -1 with errno. Only <see cref="SafeFileDescriptor.Open"/> calls it, with the handle
    /// object already allocated. (It returns a C int, so it cannot return the SafeHandle itself: the marshaller would
    /// read the 64-bit register, whose upper half a 32-bit -1 leaves zero.)
    /// </summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, int mode);
}
