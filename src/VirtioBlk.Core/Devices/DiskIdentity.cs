using System;
using System.IO;

namespace VirtioBlk.Core.Devices;

/// <summary>Which node of a disk a path named.</summary>
public enum DiskNodeRole
{
    /// <summary>The whole disk's block device (/dev/vdb, /dev/loop0), or a bare disk name.</summary>
    BlockDevice,

    /// <summary>The disk's virtio-blk passthrough char device (/dev/vdbc0, class vblk-generic).</summary>
    PassthroughCharDevice,
}

/// <summary>Why a path or name is not a disk this module can use.</summary>
public enum DiskIdentityProblem
{
    /// <summary>Nothing of that path or name exists.</summary>
    NotFound,

    /// <summary>A regular file.</summary>
    RegularFile,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A char device that is not a virtio-blk passthrough node (/dev/null, a tty).</summary>
    ForeignCharDevice,

    /// <summary>A socket, FIFO or other node.</summary>
    OtherNode,

    /// <summary>A partition: <see cref="DiskIdentityException.ParentDisk"/> holds it.</summary>
    Partition,
}

/// <summary>A path or name that is not a whole disk; the cmdlets map <see cref="Problem"/> to their ErrorRecord.</summary>
public sealed class DiskIdentityException : IOException
{
    public DiskIdentityException(DiskIdentityProblem problem, string requested, string? parentDisk = null)
        : base(Describe(problem, requested, parentDisk))
    {
        Problem = problem;
        Requested = requested;
        ParentDisk = parentDisk;
    }

    public DiskIdentityProblem Problem { get; }

    /// <summary>The path or name as the caller gave it.</summary>
    public string Requested { get; }

    /// <summary>For <see cref="DiskIdentityProblem.Partition"/>: the disk the partition belongs to, when known.</summary>
    public string? ParentDisk { get; }

    private static string Describe(DiskIdentityProblem problem, string requested, string? parent) => problem switch
    {
        DiskIdentityProblem.NotFound => $"'{requested}' does not exist.",
        DiskIdentityProblem.RegularFile => $"'{requested}' is a regular file, not a block device or a virtio-blk passthrough char device.",
        DiskIdentityProblem.Directory => $"'{requested}' is a directory, not a block device or a virtio-blk passthrough char device.",
        DiskIdentityProblem.ForeignCharDevice => $"'{requested}' is a character device that is not a virtio-blk passthrough node (/dev/vdXc0).",
        DiskIdentityProblem.OtherNode => $"'{requested}' is neither a block nor a character device.",
        DiskIdentityProblem.Partition => $"'{requested}' is a partition{(parent is null ? "" : $" of {parent}")}, not a whole disk.",
        _ => $"'{requested}' is not a disk.",
    };
}

/// <summary>
/// What a path or name is: the one place that decides whether it is a whole disk, a partition or a passthrough
/// char device, which disk it belongs to, whether virtio_blk drives it, where its nodes are and its geometry.
/// Everything comes from statx and sysfs; nothing is opened.
/// </summary>
public sealed record DiskIdentity
{
    private const string VirtioBlkDriver = "virtio_blk";
    private const string VirtioBus = "virtio";

    /// <summary>The passthrough node's name is the disk's name with this suffix (both the posted series and its variants).</summary>
    public const string CharDeviceSuffix = "c0";

    /// <summary>The path or name as given.</summary>
    public required string Requested { get; init; }

    /// <summary>Which node the request named.</summary>
    public required DiskNodeRole Role { get; init; }

    /// <summary>Kernel name of the whole disk ("vdb", "loop0").</summary>
    public required string Disk { get; init; }

    /// <summary>The block device node: the requested one, or /dev/&lt;disk&gt;.</summary>
    public required string BlockPath { get; init; }

    /// <summary>/dev/&lt;disk&gt;c0 when the kernel registered it (class vblk-generic) and the node exists; else null.</summary>
    public string? CharDevicePath { get; init; }

    /// <summary>True when the kernel has the char device in class vblk-generic, whether or not /dev has its node.</summary>
    public bool CharDeviceRegistered { get; init; }

    /// <summary>virtio_blk drives the disk.</summary>
    public required bool IsVirtio { get; init; }

    /// <summary>The driver bound to the disk's device, when sysfs names one.</summary>
    public string? Driver { get; init; }

    public required DiskGeometry Geometry { get; init; }

    /// <summary>The node that carries I/O of <paramref name="path"/>; null for passthrough without a char device.</summary>
    public string? PathFor(IoPathKind path) => path == IoPathKind.Passthrough ? CharDevicePath : BlockPath;

    /// <summary>
    /// Resolves "/dev/vdb", "/dev/vdbc0", "vdb", "vdbc0", "./vdb" (relative to the process's directory) or a udev
    /// link. Throws <see cref="DiskIdentityException"/> for anything that is not a whole disk, and
    /// <see cref="SysfsException"/> when the disk's sysfs attributes are unreadable (it vanished meanwhile).
    /// </summary>
    public static DiskIdentity Resolve(string pathOrName)
    {
        ArgumentNullException.ThrowIfNull(pathOrName);
        string requested = pathOrName;
        string node = pathOrName.Trim();
        if (node.Length == 0)
        {
            throw new DiskIdentityException(DiskIdentityProblem.NotFound, requested);
        }

        if (!node.Contains('/'))
        {
            return ResolveName(node, requested);
        }

        DeviceNodeInfo info = DeviceNodeInfo.Stat(node);
        switch (info.Kind)
        {
            case DeviceNodeKind.Missing:
                throw new DiskIdentityException(DiskIdentityProblem.NotFound, requested);
            case DeviceNodeKind.RegularFile:
                throw new DiskIdentityException(DiskIdentityProblem.RegularFile, requested);
            case DeviceNodeKind.Other:
                throw new DiskIdentityException(Directory.Exists(node) ? DiskIdentityProblem.Directory : DiskIdentityProblem.OtherNode, requested);
            case DeviceNodeKind.CharacterDevice:
                string? disk = DiskOfCharDevice(info) ?? throw new DiskIdentityException(DiskIdentityProblem.ForeignCharDevice, requested);
                return Describe(requested, disk, DiskNodeRole.PassthroughCharDevice, Path.Combine(Sysfs.DevRoot, disk));
            default:
                string? target = Sysfs.ResolveFinalPath(Path.Combine(Sysfs.DevBlockRoot, info.DevId));
                if (target is null)
                {
                    throw new DiskIdentityException(DiskIdentityProblem.NotFound, requested);
                }

                if (File.Exists(Path.Combine(target, "partition")))
                {
                    throw new DiskIdentityException(DiskIdentityProblem.Partition, requested, Path.GetFileName(Path.GetDirectoryName(target)));
                }

                return Describe(requested, Path.GetFileName(target), DiskNodeRole.BlockDevice, node);
        }
    }

    /// <summary>A bare kernel name: a disk in /sys/block, a partition, or a disk's passthrough node name.</summary>
    private static DiskIdentity ResolveName(string name, string requested)
    {
        if (name is "." or "..")
        {
            throw new DiskIdentityException(DiskIdentityProblem.NotFound, requested);
        }

        if (Directory.Exists(Path.Combine(Sysfs.BlockRoot, name)))
        {
            return Describe(requested, name, DiskNodeRole.BlockDevice, Path.Combine(Sysfs.DevRoot, name));
        }

        string classEntry = Path.Combine(Sysfs.ClassBlockRoot, name);
        if (File.Exists(Path.Combine(classEntry, "partition")))
        {
            string? partition = Sysfs.ResolveFinalPath(classEntry);
            throw new DiskIdentityException(DiskIdentityProblem.Partition, requested,
                partition is null ? null : Path.GetFileName(Path.GetDirectoryName(partition)));
        }

        if (Directory.Exists(Path.Combine(Sysfs.PassthroughClassRoot, name)) && DiskOfCharDeviceName(name) is string disk)
        {
            return Describe(requested, disk, DiskNodeRole.PassthroughCharDevice, Path.Combine(Sysfs.DevRoot, disk));
        }

        throw new DiskIdentityException(DiskIdentityProblem.NotFound, requested);
    }

    private static DiskIdentity Describe(string requested, string disk, DiskNodeRole role, string blockPath)
    {
        DiskGeometry geometry = DiskGeometry.FromSysfs(disk);
        bool isVirtio = IsVirtioDisk(disk, out string? driver);
        return new DiskIdentity
        {
            Requested = requested,
            Role = role,
            Disk = disk,
            BlockPath = blockPath,
            CharDevicePath = isVirtio ? CharDevicePathOf(disk) : null,
            CharDeviceRegistered = isVirtio && Directory.Exists(Path.Combine(Sysfs.PassthroughClassRoot, disk + CharDeviceSuffix)),
            IsVirtio = isVirtio,
            Driver = driver,
            Geometry = geometry,
        };
    }

    /// <summary>
    /// Whether /sys/block/<paramref name="disk"/> is driven by virtio_blk: its device's driver link, or (driver
    /// unbound, e.g. during a rebind) its device on the virtio bus. Loop, zram, dm, md and nvme disks have neither.
    /// </summary>
    public static bool IsVirtioDisk(string disk, out string? driver)
    {
        string device = Path.Combine(Sysfs.BlockRoot, disk, "device");
        driver = Sysfs.LinkTargetName(Path.Combine(device, "driver"));
        return driver == VirtioBlkDriver
            || (driver is null && Sysfs.LinkTargetName(Path.Combine(device, "subsystem")) == VirtioBus);
    }

    /// <summary>The passthrough char device of a disk when the kernel registered it and /dev has the node; else null.</summary>
    public static string? CharDevicePathOf(string disk)
    {
        string name = disk + CharDeviceSuffix;
        string node = Path.Combine(Sysfs.DevRoot, name);
        return Directory.Exists(Path.Combine(Sysfs.PassthroughClassRoot, name))
            && DeviceNodeInfo.Stat(node).Kind == DeviceNodeKind.CharacterDevice ? node : null;
    }

    /// <summary>
    /// The kernel name a user's disk name stands for: "/dev/vdb", "vdbc0", "/dev/vdbc0" and udev links become
    /// "vdb"; anything unknown comes back as typed (minus /dev/), for the caller to report.
    /// </summary>
    public static string NormalizeName(string input)
    {
        try
        {
            return Resolve(input).Disk;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string name = input.Trim();
            return name.StartsWith(Sysfs.DevRoot + "/", StringComparison.Ordinal) ? name[(Sysfs.DevRoot.Length + 1)..] : name;
        }
    }

    /// <summary>
    /// The disk a name stands for even where its node is absent: "vdb", "/dev/vdb", "vdbc0" or "/dev/vdbc0" name vdb
    /// when /sys/block/vdb exists (a kernel without the passthrough series still has the disk). Null otherwise.
    /// </summary>
    public static string? DiskNamed(string input)
    {
        string name = input.Trim();
        if (name.StartsWith(Sysfs.DevRoot + "/", StringComparison.Ordinal))
        {
            name = name[(Sysfs.DevRoot.Length + 1)..];
        }

        if (name.Length == 0 || name.Contains('/') || name is "." or "..")
        {
            return null;
        }

        if (Directory.Exists(Path.Combine(Sysfs.BlockRoot, name)))
        {
            return name;
        }

        return name.EndsWith(CharDeviceSuffix, StringComparison.Ordinal) && name.Length > CharDeviceSuffix.Length
            && Directory.Exists(Path.Combine(Sysfs.BlockRoot, name[..^CharDeviceSuffix.Length]))
            ? name[..^CharDeviceSuffix.Length] : null;
    }

    /// <summary>The disk whose passthrough node <paramref name="info"/> is, or null when it is no such node.</summary>
    private static string? DiskOfCharDevice(DeviceNodeInfo info)
    {
        string? target = Sysfs.ResolveFinalPath(Path.Combine(Sysfs.DevCharRoot, info.DevId));
        string? name = target is null ? null : Path.GetFileName(target);
        return name is not null && Directory.Exists(Path.Combine(Sysfs.PassthroughClassRoot, name)) ? DiskOfCharDeviceName(name) : null;
    }

    /// <summary>
    /// The disk behind a vblk-generic class member: the disk on the same virtio device (the char device's parent)
    /// whose name plus the suffix is the char device's name.
    /// </summary>
    private static string? DiskOfCharDeviceName(string charName)
    {
        if (!charName.EndsWith(CharDeviceSuffix, StringComparison.Ordinal) || charName.Length <= CharDeviceSuffix.Length)
        {
            return null;
        }

        string disk = charName[..^CharDeviceSuffix.Length];
        string viaParent = Path.Combine(Sysfs.PassthroughClassRoot, charName, "device", "block", disk);
        return Directory.Exists(viaParent) || Directory.Exists(Path.Combine(Sysfs.BlockRoot, disk)) ? disk : null;
    }
}
