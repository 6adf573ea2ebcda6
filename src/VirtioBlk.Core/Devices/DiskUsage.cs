using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace VirtioBlk.Core.Devices;

/// <summary>A mount of the disk or one of its partitions (a line of /proc/self/mountinfo).</summary>
public sealed record DiskMount(string Device, string MountPoint, string FileSystemType);

/// <summary>
/// Is a disk in use? Mounted (the disk or a partition, in this process's mount namespace), used as swap, or
/// held by another block device (dm, md, on the disk or a partition). The write cmdlets call
/// <see cref="Inspect"/>; the cmdlets turn a disk in use into their refusal.
/// </summary>
/// <remarks>
/// Reads /proc and /sys only. It can't see an open by another process (the kernel shows no such thing short of
/// scanning /proc/*/fd), nor mounts in other mount namespaces; O_EXCL on the block device covers mounts and
/// holders at open time and is the backstop.
/// </remarks>
public sealed class DiskUsage
{
    private DiskUsage(string disk, string[] partitions, DiskMount[] mounts, string[] swapAreas, string[] holders)
    {
        Disk = disk;
        Partitions = partitions;
        Mounts = mounts;
        SwapAreas = swapAreas;
        Holders = holders;
    }

    /// <summary>Kernel name of the disk ("vdb").</summary>
    public string Disk { get; }

    /// <summary>Its partitions ("vdb1", ...).</summary>
    public string[] Partitions { get; }

    /// <summary>Mounts of the disk or a partition.</summary>
    public DiskMount[] Mounts { get; }

    /// <summary>Distinct mount points, in mount order.</summary>
    public string[] MountPoints => Mounts.Select(m => m.MountPoint).Distinct().ToArray();

    /// <summary>Swap areas (/proc/swaps file names) on the disk or a partition.</summary>
    public string[] SwapAreas { get; }

    /// <summary>Holders of the disk or a partition, as "holder (of vdb1)".</summary>
    public string[] Holders { get; }

    public bool IsInUse => Mounts.Length > 0 || SwapAreas.Length > 0 || Holders.Length > 0;

    /// <summary>"mounted at / (/dev/vda); swap /dev/vdb2; held by dm-0 (of vdb1)", or "not in use".</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (Mounts.Length > 0)
        {
            parts.Add("mounted at " + string.Join(", ", Mounts.Select(m => $"{m.MountPoint} ({m.Device})")));
        }

        if (SwapAreas.Length > 0)
        {
            parts.Add("swap " + string.Join(", ", SwapAreas));
        }

        if (Holders.Length > 0)
        {
            parts.Add("held by " + string.Join(", ", Holders));
        }

        return parts.Count == 0 ? "not in use" : string.Join("; ", parts);
    }

    /// <summary>
    /// Inspects a disk by kernel name or path ("vdb", "/dev/vdb"). A name that isn't a block device gives an
    /// empty (not in use) result: the caller has already resolved the disk.
    /// </summary>
    public static DiskUsage Inspect(string disk)
    {
        string name = DiskIdentity.NormalizeName(disk);
        string block = Path.Combine(Sysfs.BlockRoot, name);
        string[] partitions = Sysfs.ListNames(block)
            .Where(entry => File.Exists(Path.Combine(block, entry, "partition")))
            .ToArray();

        // The devices whose use makes the disk busy: the disk itself, then each partition.
        var devices = new List<(string Name, string Sys)> { (name, block) };
        devices.AddRange(partitions.Select(p => (p, Path.Combine(block, p))));

        var numbers = new Dictionary<string, string>(StringComparer.Ordinal);
        var paths = new HashSet<string>(StringComparer.Ordinal);
        var holders = new List<string>();
        foreach ((string device, string sys) in devices)
        {
            if (Sysfs.TryReadText(Path.Combine(sys, "dev"))?.Trim() is string number)
            {
                numbers[number] = device;
            }

            paths.Add(Path.Combine(Sysfs.DevRoot, device));
            foreach (string holder in Sysfs.ListNames(Path.Combine(sys, "holders")))
            {
                holders.Add(device == name ? holder : $"{holder} (of {device})");
            }
        }

        return new DiskUsage(name, partitions, ReadMounts(numbers, paths), ReadSwaps(paths), holders.ToArray());
    }

    /// <summary>
    /// /proc/self/mountinfo: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw". A mount is ours when
    /// field 3 (major:minor) is the disk or a partition, or, for file systems that report an anonymous device
    /// number (btrfs), when the mount source is one of their /dev paths.
    /// </summary>
    private static DiskMount[] ReadMounts(Dictionary<string, string> numbers, HashSet<string> paths)
    {
        var mounts = new List<DiskMount>();
        foreach (string line in ReadLines(Sysfs.MountInfo))
        {
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 2 >= fields.Length)
            {
                continue;
            }

            string source = Sysfs.UnescapeOctal(fields[separator + 2]);
            string? device = numbers.TryGetValue(fields[2], out string? byNumber) ? byNumber
                : paths.Contains(source) ? Path.GetFileName(source)
                : null;
            if (device is not null)
            {
                mounts.Add(new DiskMount(Path.Combine(Sysfs.DevRoot, device), Sysfs.UnescapeOctal(fields[4]), fields[separator + 1]));
            }
        }

        return mounts.ToArray();
    }

    /// <summary>/proc/swaps: a header, then "Filename Type Size Used Priority" with the file name escaped.</summary>
    private static string[] ReadSwaps(HashSet<string> paths)
    {
        var swaps = new List<string>();
        foreach (string line in ReadLines(Sysfs.Swaps).Skip(1))
        {
            string[] fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && fields[1] == "partition")
            {
                string file = Sysfs.UnescapeOctal(fields[0]);
                if (paths.Contains(file))
                {
                    swaps.Add(file);
                }
            }
        }

        return swaps.ToArray();
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        string? text = Sysfs.TryReadText(path);
        return text is null ? Array.Empty<string>() : text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
