using System;
using System.Collections.Generic;
using System.Management.Automation;
using VirtioBlk.Core;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;
using VirtioBlk.PowerShell.Completion;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell;

/// <summary>
/// Read-VirtioBlkSector: reads sectors of a disk through the block device or the passthrough char device, with
/// any combination of vectored, polled and fixed-buffer I/O the kernel allows.
/// </summary>
/// <example>Read-VirtioBlkSector /dev/vdb -Sector 0</example>
/// <example>Get-VirtioBlkDevice vdb | Read-VirtioBlkSector -Sector 2048 -Count 64 -Mode Passthrough -Poll</example>
/// <example>Read-VirtioBlkSector /dev/vdb 0 -Count 8 -Raw | Set-Content -AsByteStream mbr.bin</example>
[Cmdlet(VerbsCommunications.Read, "VirtioBlkSector", DefaultParameterSetName = PathSet)]
[OutputType(typeof(VirtioBlkSectorData), typeof(byte[]))]
public sealed class ReadVirtioBlkSectorCommand : SectorIoCommandBase
{
    /// <summary>
    /// The disks: block devices (/dev/vdb, or any block device such as /dev/loop0 on the block path), passthrough
    /// char devices (/dev/vdbc0) or kernel names (vdb); resolved like Get-Content -Path (relative to $PWD, ~,
    /// wildcards). Takes strings from the pipeline and the Path property of piped objects.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PathSet)]
    [Alias("DevicePath")]
    [ArgumentCompleter(typeof(VirtioBlkDevicePathCompleter))]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Like -Path, but taken exactly as typed: no wildcards.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = LiteralPathSet)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>Sectors to read, in 512-byte units; a multiple of the logical block size in sectors. Default: one logical block.</summary>
    [Parameter(Position = 2)]
    [WholeNumber]
    [ValidateRange(1, int.MaxValue)]
    public int? Count { get; set; }

    /// <summary>Emit only the bytes, as one byte[] (for Format-Hex, Set-Content -AsByteStream).</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    protected override void ProcessRecord()
    {
        foreach (DevicePaths.Item item in DevicePaths.Resolve(this, ParameterSetName == LiteralPathSet ? LiteralPath : Path, ParameterSetName == LiteralPathSet))
        {
            ReadOne(item);
        }
    }

    private void ReadOne(DevicePaths.Item item)
    {
        DiskIdentity disk;
        IoPathKind path;
        byte[] data;
        double micros;
        string device;
        try
        {
            disk = DiskIdentity.Resolve(item.Resolved) with { Requested = item.Requested };
            ulong count = Count is int c ? (ulong)c : (ulong)disk.Geometry.SectorsPerBlock;
            path = Plan(disk, count, IoKnob.Count);
            device = disk.PathFor(path)!;
            data = new byte[count * 512];
            using SectorIoSession session = SectorIoSession.Open(device, OptionsFor(disk, path, data.Length, write: false, exclusive: false), WriteVerbose);
            micros = Run($"Reading {device}", data.Length, (progress, cancel) => session.Read(Sector, data, progress, cancel));
        }
        catch (Exception e) when (ErrorRecords.IsReportable(e))
        {
            Report(e, item.Requested);
            return;
        }

        WriteVerbose($"Read {data.Length} bytes from {device} in {micros:0.0} us.");
        if (Raw)
        {
            WriteObject(data, enumerateCollection: false);
            return;
        }

        WriteObject(new VirtioBlkSectorData
        {
            Path = device,
            Disk = disk.Disk,
            Mode = path.ToString(),
            Sector = Sector,
            Count = (ulong)data.Length / 512,
            Length = data.Length,
            Bytes = data,
            Vectored = Vectored,
            Polled = Poll,
            FixedBuffer = FixedBuffer,
            LatencyMicroseconds = Math.Round(micros, 1),
        });
    }
}
