using System.Runtime.InteropServices;
using VirtioBlk.Core.Native;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    // <linux/fs.h>: _IOR(0x12, 114, size_t), _IO(0x12, 104).
    internal const ulong BLKGETSIZE64 = 0x80081272;
    internal const ulong BLKSSZGET = 0x1268;

    /// <summary>ioctl(2) with a pointer argument.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(SafeFileDescriptor fd, ulong request, void* arg);
}
