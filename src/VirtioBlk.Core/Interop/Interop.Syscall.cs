using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    // io_uring's syscall numbers are the same on x86-64 and arm64 (they came after the table unification).
    internal const long SYS_io_uring_setup = 425;
    internal const long SYS_io_uring_enter = 426;
    internal const long SYS_io_uring_register = 427;

    /// <summary>syscall(2). libc's variadic wrapper is safe to call with a fixed arity of longs on x86-64 and arm64.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall3(long number, long a1, long a2, long a3);

    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall4(long number, long a1, long a2, long a3, long a4);

    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall6(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    /// <summary>io_uring_setup(2): returns the ring fd, or -1 with errno.</summary>
    internal static int IoUringSetup(uint entries, Abi.IoUringParams* p)
        => (int)Syscall3(SYS_io_uring_setup, entries, (long)p, 0);

    /// <summary>io_uring_enter(2) with an extended argument (sigset or io_uring_getevents_arg) and its size.</summary>
    internal static int IoUringEnter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize)
        => (int)Syscall6(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, (long)arg, (long)argSize);

    /// <summary>io_uring_register(2).</summary>
    internal static int IoUringRegister(int fd, uint opcode, void* arg, uint nrArgs)
        => (int)Syscall4(SYS_io_uring_register, fd, opcode, (long)arg, nrArgs);
}
