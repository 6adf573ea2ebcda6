using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;

namespace VirtioBlk.PowerShell.Tests;

/// <summary>
/// A loop device over a tmpfs file of seeded random bytes (so a read can be compared with the file), detached and
/// deleted on dispose. Skips when not root or without losetup.
/// </summary>
public sealed class LoopDevice : IDisposable
{
    private LoopDevice(string path, string backingFile, byte[] content, int sectorSize)
    {
        Path = path;
        BackingFile = backingFile;
        Content = content;
        SectorSize = sectorSize;
    }

    public string Path { get; }
    public string Name => System.IO.Path.GetFileName(Path);
    public string BackingFile { get; }
    /// <summary>The bytes the device held when it was made.</summary>
    public byte[] Content { get; }
    public int SectorSize { get; }
    public long Sectors => Content.Length / 512;

    public static LoopDevice Create(long size = 4 << 20, int sectorSize = 512, bool readOnly = false, int seed = 1)
    {
        Require.Root("to create loop devices");
        Require.Tool("losetup");
        string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();
        string file = System.IO.Path.Combine(dir, $"virtioblk-pstest-{Guid.NewGuid():N}.img");
        byte[] content = new byte[size];
        new Random(seed).NextBytes(content);
        File.WriteAllBytes(file, content);
        try
        {
            // direct-io off: writes through the device land in the page cache of the file, where Read() sees them.
            var args = new System.Collections.Generic.List<string> { "--find", "--show", "--direct-io=off", "--sector-size", sectorSize.ToString() };
            if (readOnly) args.Add("--read-only");
            args.Add(file);
            string dev = Shell.Run("losetup", args.ToArray()).Trim();
            return new LoopDevice(dev, file, content, sectorSize);
        }
        catch
        {
            File.Delete(file);
            throw;
        }
    }

    /// <summary>The backing file's bytes now (what a write through the device left there).</summary>
    public byte[] Read(long offset, int length)
    {
        using var fs = new FileStream(BackingFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        fs.Position = offset;
        byte[] buffer = new byte[length];
        fs.ReadExactly(buffer);
        return buffer;
    }

    public void Dispose()
    {
        try { Shell.Run("losetup", "-d", Path); }
        finally { File.Delete(BackingFile); }
    }
}
