using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static partial class Sys
{
    // io_uring's syscall numbers are the same on x86-64 and arm64 (they came after the table unification).
    // libc's variadic syscall(2) is called with a fixed arity of 64-bit arguments: safe on x86-64 and arm64, where
    // glibc's wrapper is assembly that moves six integer registers and reads no vector-register count.
    internal const long SYS_io_uring_setup = 425;
    internal const long SYS_io_uring_enter = 426;
    internal const long SYS_io_uring_register = 427;

    /// <summary>syscall(2) with three arguments and no handle (capget/capset).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall3(long number, long a1, long a2, long a3);
}
