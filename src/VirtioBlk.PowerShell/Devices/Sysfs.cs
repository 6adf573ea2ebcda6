using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace VirtioBlk.PowerShell.Devices;

/// <summary>
/// Reads the kernel's text files under /sys and /proc. Device discovery never opens a disk: everything the
/// module shows about a disk comes from here, so a disk that refuses opens (this machine's /dev/vda) is listed
/// in full.
/// </summary>
internal static class Sysfs
{
    internal const string BlockRoot = "/sys/block";
    internal const string PassthroughClassRoot = "/sys/class/vblk-generic";
    internal const string VirtioBlkModuleParameters = "/sys/module/virtio_blk/parameters";
    internal const string DebugfsBlockRoot = "/sys/kernel/debug/block";
    internal const string MountInfo = "/proc/self/mountinfo";
    internal const string Swaps = "/proc/swaps";
    internal const string DevRoot = "/dev";

    /// <summary>The file's text without the trailing newline, or null when the file does not exist or can't be read.</summary>
    internal static string? TryReadText(string path)
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

    /// <summary>A required attribute: throws <see cref="InvalidDataException"/> naming the file when it is absent.</summary>
    internal static string ReadText(string path)
        => TryReadText(path) ?? throw new InvalidDataException($"Cannot read '{path}'.");

    internal static long ReadInt64(string path)
    {
        string text = ReadText(path).Trim();
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new InvalidDataException($"'{path}' holds '{text}', not a number.");
    }

    internal static int ReadInt32(string path) => checked((int)ReadInt64(path));

    internal static long? TryReadInt64(string path)
    {
        string? text = TryReadText(path)?.Trim();
        return text is not null && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : null;
    }

    /// <summary>The last path component of a symlink's target ("virtio_blk" for .../drivers/virtio_blk), or null.</summary>
    internal static string? LinkTargetName(string path)
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
    internal static string? ResolveFinalPath(string path)
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
    internal static string[] ListNames(string directory)
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
    internal static string UnescapeOctal(string field)
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

/// <summary>Orders disk names as the kernel allocates them: vda..vdz, then vdaa (shorter first, then ordinal).</summary>
internal sealed class DiskNameComparer : IComparer<string>
{
    internal static readonly DiskNameComparer Instance = new();

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
