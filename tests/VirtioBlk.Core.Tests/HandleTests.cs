using System;
using System.IO;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>Handles in the P/Invoke signatures: a disposed handle is refused before any syscall sees its number.</summary>
public sealed class HandleTests
{
    [Fact]
    public void ADisposedFileIsNeverRegistered()
    {
        using IoUring ring = Rings.Create(2);
        SafeFileDescriptor fd = SafeFileDescriptor.Open("/dev/null", Interop.Sys.O_RDONLY);
        fd.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ring.RegisterFiles(fd));
    }

    [Fact]
    public void ADisposedFdIsNeverMapped()
    {
        SafeFileDescriptor fd = SafeFileDescriptor.Open("/dev/null", Interop.Sys.O_RDONLY);
        fd.Dispose();
        Assert.Throws<ObjectDisposedException>(() => SafeMmapRegion.Map(fd, 4096, 0, "test"));
    }

    [Fact]
    public void AFailedMapNamesTheErrnoAndLeavesNoMapping()
    {
        using SafeFileDescriptor fd = SafeFileDescriptor.Open("/dev/null", Interop.Sys.O_RDONLY);
        var e = Assert.Throws<IoUringException>(() => SafeMmapRegion.Map(fd, 4096, 0, "a mapping of /dev/null"));
        Assert.Equal(IoOperationKind.MapMemory, e.Kind);
        Assert.Contains("a mapping of /dev/null", e.Message);
    }

    [Fact]
    public void AFailedOpenReturnsNoHandle()
    {
        var e = Assert.Throws<IoUringException>(() => SafeFileDescriptor.Open("/does/not/exist", Interop.Sys.O_RDONLY));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("/does/not/exist", e.Path);
    }
}
