using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;

namespace VirtioBlk.PowerShell.Tests;

/// <summary>Preconditions: a test that needs something absent skips with the reason.</summary>
internal static class Require
{
    public static bool IsRoot => GetEuid() == 0;

    public static void Root(string why)
    {
        if (!IsRoot) Assert.Skip($"needs root ({why})");
    }

    public static void Tool(string name)
    {
        if (Which(name) is null) Assert.Skip($"needs '{name}' on PATH");
    }

    public static string? Which(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>The whole disks this machine's virtio_blk driver has bound (vda, vdb, ...), from sysfs alone.</summary>
    public static string[] VirtioDisks()
        => Directory.Exists("/sys/block")
            ? Directory.GetDirectories("/sys/block")
                .Where(d => new FileInfo(Path.Combine(d, "device/driver")).LinkTarget is string t && Path.GetFileName(t) == "virtio_blk")
                .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray()
            : Array.Empty<string>();

    /// <summary>The first virtio-blk disk, or a skip: the device views and Get-VirtioBlkDevice need one.</summary>
    public static string VirtioDisk()
    {
        string[] disks = VirtioDisks();
        if (disks.Length == 0) Assert.Skip("no virtio-blk disk on this machine");
        return disks[0];
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "geteuid")]
    private static extern uint GetEuid();
}

internal static class Shell
{
    /// <summary>Runs a program, returns stdout; throws with stderr when it fails.</summary>
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr}");
        }

        return stdout;
    }
}

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
