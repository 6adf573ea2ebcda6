using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    /// <summary>
    /// io_uring_setup(2): the ring's fd, or -1 with errno. Callers allocate the <see cref="Native.SafeFileDescriptor"/>
    /// that will own it before they call, so a returned fd is never orphaned.
    /// </summary>
    internal static int IoUringSetup(uint entries, Abi.IoUringParams* p)
        => (int)IoUringSetupSyscall(SYS_io_uring_setup, entries, p);

    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long IoUringSetupSyscall(long number, long entries, Abi.IoUringParams* p);
}
