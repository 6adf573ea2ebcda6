using System;
using System.Runtime.InteropServices;
using VirtioBlk.Core.Interop;

namespace VirtioBlk.Core.Native;

/// <summary>An owned Linux file descriptor, closed exactly once.</summary>
public sealed class SafeFileDescriptor : SafeHandle
{
    public SafeFileDescriptor() : base(-1, ownsHandle: true) { }

    public override bool IsInvalid => handle < 0;

    /// <summary>
    /// The raw fd, for an SQE's fd field; syscalls take the handle itself. Refused (ObjectDisposedException) once the
    /// handle is closed, so a closed fd's number -- perhaps another file's by now -- never reaches an SQE.
    /// </summary>
    public int Fd
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return (int)handle;
        }
    }

    /// <summary>Takes ownership of a fd just returned by a syscall; the handle object was allocated before that call.</summary>
    internal void SetFd(int fd) => SetHandle(fd);

    protected override bool ReleaseHandle() => Sys.Close((int)handle) == 0;

    /// <summary>open(2) with O_CLOEXEC; a typed error names the path.</summary>
    public static SafeFileDescriptor Open(string path, int flags)
    {
        var h = new SafeFileDescriptor(); // allocate before the syscall so a fd is never orphaned
        int fd = Sys.Open(path, flags | Sys.O_CLOEXEC, 0);
        if (fd < 0)
        {
            Errno e = ErrnoText.Last(); // before Dispose, which could overwrite errno
            h.Dispose();
            throw new IoUringException(e, IoOperationKind.Open, "open", path: path);
        }
        h.SetFd(fd);
        return h;
    }
}
