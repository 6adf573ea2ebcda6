using System;
using System.IO;
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
[Cmdlet(VerbsCommunications.Read, "VirtioBlkSector", DefaultParameterSetName = ObjectSet)]
[OutputType(typeof(VirtioBlkSectorData), ParameterSetName = new[] { ObjectSet })]
[OutputType(typeof(byte[]), ParameterSetName = new[] { RawSet })]
public sealed class ReadVirtioBlkSectorCommand : SectorIoCommandBase
{
    private const string ObjectSet = "Object";
    private const string RawSet = "Raw";

    /// <summary>
    /// The disk: a block device (/dev/vdb, or any block device such as /dev/loop0 on the block path), its
    /// passthrough char device (/dev/vdbc0), or a kernel name (vdb). Binds the Path property of piped objects.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("DevicePath")]
    [ArgumentCompleter(typeof(VirtioBlkDevicePathCompleter))]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Sectors to read, in 512-byte units; a multiple of the logical block size in sectors. Default: one logical block.</summary>
    [Parameter(Position = 2)]
    public int? Count { get; set; }

    /// <summary>Emit only the bytes, as one byte[] (for Format-Hex, Set-Content -AsByteStream).</summary>
    [Parameter(Mandatory = true, ParameterSetName = RawSet)]
    public SwitchParameter Raw { get; set; }

    protected override void ProcessRecord()
    {
        DiskIdentity disk;
        IoPathKind path;
        byte[] data;
        double micros;
        string device;
        try
        {
            disk = DiskIdentity.Resolve(Path);
            ulong count = Count is int c ? (c < 0 ? 0 : (ulong)c) : (ulong)disk.Geometry.SectorsPerBlock;
            path = Plan(disk, count, IoKnob.Count);
            device = disk.PathFor(path)!;
            data = new byte[count * 512];
            using SectorIoSession session = SectorIoSession.Open(device, OptionsFor(disk, path, data.Length, write: false, exclusive: false));
            micros = Run($"Reading {device}", data.Length, (progress, cancel) => session.Read(Sector, data, progress, cancel));
        }
        catch (Exception e) when (ErrorRecords.IsReportable(e))
        {
            Report(e, Path);
            return;
        }

        if (Raw)
        {
            WriteObject(data, enumerateCollection: false);
            return;
        }

        WriteObject(new VirtioBlkSectorData
        {
            Path = device,
            Disk = disk.Disk,
            Mode = path,
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
