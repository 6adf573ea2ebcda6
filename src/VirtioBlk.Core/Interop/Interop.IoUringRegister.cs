using System.Runtime.InteropServices;
using VirtioBlk.Core.Native;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    /// <summary>io_uring_register(2); the marshaller's AddRef keeps the ring's fd alive for the call (and refuses a disposed one).</summary>
    internal static int IoUringRegister(SafeFileDescriptor ringFd, uint opcode, void* arg, uint nrArgs)
        => (int)IoUringRegisterSyscall(SYS_io_uring_register, ringFd, opcode, arg, nrArgs);

    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long IoUringRegisterSyscall(long number, SafeFileDescriptor fd, long opcode, void* arg, long nrArgs);
}
