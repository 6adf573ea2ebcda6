using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    /// <summary>
    /// io_uring_enter(2) with an extended argument (sigset or io_uring_getevents_arg) and its size. The one P/Invoke
    /// that takes a raw fd: it runs millions of times a second, so the ring holds one reference on its fd
    /// handle for its whole life (or passes its registered index) instead of an AddRef/Release per call.
    /// Blittable and without SetLastError, so the JIT inlines the call (and its GC transition) into the caller with no
    /// marshalling stub: on -1 the caller reads errno at once with <see cref="Marshal.GetLastSystemError"/>, as the
    /// SetLastError stub would (syscall(2) sets errno only on failure).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int IoUringEnter(int ringFd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize)
        => (int)IoUringEnterSyscall(SYS_io_uring_enter, ringFd, toSubmit, minComplete, flags, arg, (long)argSize);

    [LibraryImport(Libraries.Libc, EntryPoint = "syscall")]
    private static partial long IoUringEnterSyscall(long number, long fd, long toSubmit, long minComplete, long flags, void* arg, long argSize);
}
