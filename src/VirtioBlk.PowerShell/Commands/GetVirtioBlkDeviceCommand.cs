using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using VirtioBlk.PowerShell.Completion;
using VirtioBlk.Core.Devices;

namespace VirtioBlk.PowerShell;

/// <summary>
/// Get-VirtioBlkDevice: the virtio-blk disks of this machine, described from sysfs without opening them.
/// </summary>
/// <example>Get-VirtioBlkDevice</example>
/// <example>Get-VirtioBlkDevice vdb, /dev/vdc</example>
/// <example>'vd*' | Get-VirtioBlkDevice | Format-List</example>
[Cmdlet(VerbsCommon.Get, "VirtioBlkDevice")]
[OutputType(typeof(VirtioBlkDevice))]
public sealed class GetVirtioBlkDeviceCommand : PSCmdlet
{
    // Each disk is written once per invocation, however many names match it.
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);

    /// <summary>
    /// Disk names: "vdb", "/dev/vdb", "vdbc0", a /dev/disk/by-* link, or a wildcard ("vd*"). All disks when omitted.
    /// </summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(VirtioBlkDiskNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        if (Name is null)
        {
            foreach (string disk in VirtioBlkDiscovery.EnumerateDiskNames())
            {
                WriteDisk(disk, target: disk, skipIfVanished: true);
            }

            return;
        }

        foreach (string requested in Name)
        {
            if (WildcardPattern.ContainsWildcardCharacters(requested))
            {
                WriteMatches(requested);
            }
            else
            {
                WriteNamed(requested);
            }
        }
    }

    /// <summary>Like Get-Item: a wildcard that matches nothing writes nothing and no error.</summary>
    private void WriteMatches(string requested)
    {
        string pattern = requested.Trim();
        if (pattern.StartsWith("/dev/", StringComparison.Ordinal))
        {
            pattern = pattern.Substring("/dev/".Length);
        }

        // Case-sensitive, like the kernel names and a plain -Name.
        var wildcard = WildcardPattern.Get(pattern, WildcardOptions.CultureInvariant);
        foreach (string disk in VirtioBlkDiscovery.EnumerateDiskNames())
        {
            // "vd*c0" selects disks by their passthrough node name.
            if (wildcard.IsMatch(disk) || wildcard.IsMatch(disk + "c0"))
            {
                WriteDisk(disk, target: requested, skipIfVanished: true);
            }
        }
    }

    /// <summary>A plain name must name a virtio-blk disk; otherwise one non-terminating error, then the next name.</summary>
    private void WriteNamed(string requested)
    {
        DiskIdentity disk;
        try
        {
            // "vdac0" names the disk vda even on a kernel without the passthrough series.
            disk = DiskIdentity.Resolve(DiskIdentity.DiskNamed(requested) ?? requested);
        }
        catch (DiskIdentityException e)
        {
            WriteError(e.Problem == DiskIdentityProblem.Partition
                ? ErrorRecords.PartitionNotDisk(requested, e.ParentDisk)
                : ErrorRecords.DeviceNotFound(requested));
            return;
        }
        catch (SysfsException e)
        {
            WriteError(ErrorRecords.FromException(e, requested));
            return;
        }

        if (disk.IsVirtio)
        {
            WriteDisk(disk.Disk, target: requested, skipIfVanished: false);
        }
        else
        {
            WriteError(ErrorRecords.NotVirtioDisk(requested, disk.Driver));
        }
    }

    private void WriteDisk(string disk, string target, bool skipIfVanished)
    {
        if (_written.Contains(disk))
        {
            return;
        }

        VirtioBlkDevice device;
        try
        {
            device = VirtioBlkDiscovery.Read(disk);
        }
        catch (SysfsException e)
        {
            // Unplugged between listing and reading: when listing, the disk is simply no longer there.
            if (!(skipIfVanished && !Directory.Exists(Path.Combine(Sysfs.BlockRoot, disk))))
            {
                WriteError(ErrorRecords.FromException(e, target));
            }

            return;
        }

        _written.Add(disk);
        WriteVerbose($"{disk} ({target}): {device.QueueCount} hardware queues, {device.PollQueues} poll queues (counted from {device.PollQueuesSource}), "
            + $"passthrough {(device.CharDevicePath ?? "not available (no vblk-generic class entry)")}, {(device.InUse ? "in use" : "not in use")}; read from sysfs only.");
        WriteObject(device);
    }
}
