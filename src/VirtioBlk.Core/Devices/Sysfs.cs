using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// Reads the kernel's text files under /sys and /proc. Device discovery never opens a disk: everything the
/// module shows about a disk comes from here, so a disk that refuses opens (this machine's /dev/vda) is listed
/// in full.
/// </summary>
public static class Sysfs
{
    public const string BlockRoot = "/sys/block";
    public const string ClassBlockRoot = "/sys/class/block";
    public const string DevBlockRoot = "/sys/dev/block";
    public const string DevCharRoot = "/sys/dev/char";
    public const string PassthroughClassRoot = "/sys/class/vblk-generic";
    public const string VirtioBlkModuleParameters = "/sys/module/virtio_blk/parameters";
    public const string DebugfsBlockRoot = "/sys/kernel/debug/block";
    public const string MountInfo = "/proc/self/mountinfo";
    public const string Swaps = "/proc/swaps";
    public const string DevRoot = "/dev";
    public const string ProcSelfStatus = "/proc/self/status";
    public const string OsRelease = "/proc/sys/kernel/osrelease";

    /// <summary>kernel.io_uring_disabled: 0 allowed, 1 only for kernel.io_uring_group members, 2 disabled.</summary>
    public const string IoUringDisabledSysctl = "/proc/sys/kernel/io_uring_disabled";

    /// <summary>The file's text without the trailing newline, or null when the file does not exist or can't be read.</summary>
    public static string? TryReadText(string path)
    {
        try
        {
            return File.ReadAllText(path).TrimEnd('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A missing attribute (older kernel, other driver) or one whose show() fails (virtio_blk's serial
            // returns -EIO when the device has no GET_ID): the caller decides what absence means.
            return null;
        }
    }

    /// <summary>A required attribute: throws <see cref="SysfsException"/> naming the file when it is absent.</summary>
    public static string ReadText(string path)
        => TryReadText(path) ?? throw new SysfsException(path, "cannot be read");

    public static long ReadInt64(string path)
    {
        string text = ReadText(path).Trim();
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new SysfsException(path, $"holds '{text}', not a number");
    }

    public static ulong ReadUInt64(string path)
    {
        string text = ReadText(path).Trim();
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value)
            ? value
            : throw new SysfsException(path, $"holds '{text}', not a number");
    }

    public static int ReadInt32(string path)
    {
        long value = ReadInt64(path);
        return value <= int.MaxValue ? (int)value : throw new SysfsException(path, $"holds {value}, more than this module expects");
    }

    public static long? TryReadInt64(string path)
    {
        string? text = TryReadText(path)?.Trim();
        return text is not null && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : null;
    }

    /// <summary>The last path component of a symlink's target ("virtio_blk" for .../drivers/virtio_blk), or null.</summary>
    public static string? LinkTargetName(string path)
    {
        try
        {
            FileSystemInfo? target = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: false);
            return target is null ? null : Path.GetFileName(target.FullName.TrimEnd('/'));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Where a chain of symlinks ends (absolute), or null when <paramref name="path"/> is not a link or is unreadable.</summary>
    public static string? ResolveFinalPath(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName.TrimEnd('/');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Directory entry names, sorted, or none when the directory is missing.</summary>
    public static string[] ListNames(string directory)
    {
        try
        {
            var names = new List<string>();
            foreach (string entry in Directory.EnumerateFileSystemEntries(directory))
            {
                names.Add(Path.GetFileName(entry));
            }

            names.Sort(DiskNameComparer.Instance);
            return names.ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    /// <summary>
    /// Decodes the octal escapes the kernel writes in /proc/*/mountinfo and /proc/swaps (space \040, tab \011,
    /// newline \012, backslash \134).
    /// </summary>
    public static string UnescapeOctal(string field)
    {
        if (field.IndexOf('\\') < 0)
        {
            return field;
        }

        var text = new StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }

        return text.ToString();
    }

    private static bool IsOctal(string s, int start)
    {
        if (start + 3 > s.Length)
        {
            return false;
        }

        for (int i = start; i < start + 3; i++)
        {
            if (s[i] < '0' || s[i] > '7')
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A sysfs or procfs attribute that is missing or malformed: usually the disk went away meanwhile.</summary>
public sealed class SysfsException : IOException
{
    public SysfsException(string path, string problem) : base($"'{path}' {problem}.")
    {
        Path = path;
    }

    /// <summary>The attribute's file.</summary>
    public string Path { get; }
}

/// <summary>Orders disk names as the kernel allocates them: vda..vdz, then vdaa (shorter first, then ordinal).</summary>
public sealed class DiskNameComparer : IComparer<string>
{
    public static readonly DiskNameComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return string.CompareOrdinal(x, y);
        }

        int byLength = x.Length.CompareTo(y.Length);
        return byLength != 0 ? byLength : string.CompareOrdinal(x, y);
    }
}
