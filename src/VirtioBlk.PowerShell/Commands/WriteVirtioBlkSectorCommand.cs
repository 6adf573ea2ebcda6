using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using VirtioBlk.Core;
using VirtioBlk.Core.Devices;
using VirtioBlk.PowerShell.Completion;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell;

/// <summary>
/// Write-VirtioBlkSector: writes whole logical blocks to a disk through the block device or the passthrough char
/// device. Piped bytes are collected and written once, after the pipeline ends (like Set-Content -AsByteStream).
/// Refuses a disk in use (mounted, swap, holders, claimed) unless -Force, and a read-only disk always.
/// </summary>
/// <example>Write-VirtioBlkSector /dev/vdb -Sector 2048 -SourcePath ./block.bin -Flush</example>
/// <example>[byte[]]::new(4096) | Write-VirtioBlkSector /dev/vdbc0 -Sector 0 -Mode Passthrough -FixedBuffer -Confirm:$false</example>
[Cmdlet(VerbsCommunications.Write, "VirtioBlkSector", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High,
    DefaultParameterSetName = InputObjectSet)]
[OutputType(typeof(VirtioBlkSectorWriteResult))]
public sealed class WriteVirtioBlkSectorCommand : SectorIoCommandBase
{
    private const string InputObjectSet = "InputObject";
    private const string SourcePathSet = "SourcePath";

    private readonly List<byte[]> _pieces = new();
    private long _inputLength;

    /// <summary>
    /// The disk: a block device (/dev/vdb, /dev/loop0), its passthrough char device (/dev/vdbc0), or a kernel
    /// name (vdb). Not taken from the pipeline, so piped data can never pick its own target.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0)]
    [Alias("DevicePath")]
    [ArgumentCompleter(typeof(VirtioBlkDevicePathCompleter))]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The data: a byte[] (or bytes) from the pipeline, or a read result's Bytes; all input is written as one run.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = InputObjectSet)]
    [Alias("Bytes")]
    [AllowEmptyCollection]
    public byte[] InputObject { get; set; } = Array.Empty<byte>();

    /// <summary>A file whose whole content is written; its length must be a multiple of the logical block size.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SourcePathSet)]
    [ValidateNotNullOrEmpty]
    public string SourcePath { get; set; } = "";

    /// <summary>Make the data durable before returning: VIRTIO_BLK_T_FLUSH on passthrough, fsync on the block path.</summary>
    [Parameter]
    public SwitchParameter Flush { get; set; }

    /// <summary>Output a result object describing the write.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Write even when the disk is mounted, has a mounted partition, is swap, has holders or is claimed. Never overrides read-only.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputObjectSet && InputObject is { Length: > 0 } piece)
        {
            // Past the limit only the length is kept: EndProcessing reports it.
            _inputLength += piece.Length;
            if (_inputLength <= ErrorRecords.MaxTransferLength)
            {
                _pieces.Add(piece);
            }
        }
    }

    protected override void EndProcessing()
    {
        byte[]? data = ParameterSetName == SourcePathSet ? ReadSource() : JoinInput();
        if (data is null)
        {
            return;
        }

        if (SectorTarget.Resolve(Path, out ErrorRecord? error) is not SectorTarget target)
        {
            WriteError(error!);
            return;
        }

        DiskGeometry g = target.Geometry;
        if (data.Length == 0)
        {
            WriteError(ErrorRecords.InvalidLength(ParameterSetName == SourcePathSet ? $"'{SourcePath}' is empty" : "The input is empty", Path));
            return;
        }

        if (data.Length % g.LogicalBlockSize != 0)
        {
            WriteError(ErrorRecords.UnalignedLength(data.Length, g.LogicalBlockSize, Path));
            return;
        }

        ulong count = (ulong)data.Length / 512;
        if (!CheckRange(target, count))
        {
            return;
        }

        if (g.ReadOnly)
        {
            WriteError(ErrorRecords.ReadOnlyDisk(target.Disk, Path));
            return;
        }

        if (ChoosePath(target) is not IoPathKind path)
        {
            return;
        }

        if (!Force && DiskUsage.GetWriteRefusal(target.Disk, Path) is ErrorRecord busy)
        {
            WriteError(busy);
            return;
        }

        string device = target.PathFor(path);
        string action = $"Write {data.Length} bytes to sectors {Sector}..{Sector + count - 1} (bytes {Sector * 512}..{Sector * 512 + (ulong)data.Length - 1}) "
            + $"through the {(path == IoPathKind.Passthrough ? "passthrough char device" : "block device")}{(Flush ? ", then flush" : "")}";
        try
        {
            // Opening claims the disk (O_EXCL unless -Force), so a busy disk is reported before anyone is asked to confirm.
            using SectorIoSession session = SectorIoSession.Open(device, OptionsFor(target, path, data.Length, write: true, exclusive: !Force));
            if (!ShouldProcess(device, action))
            {
                return;
            }

            double micros = Run($"Writing {device}", data.Length, (progress, cancel) =>
            {
                session.Write(Sector, data, progress, cancel);
                if (Flush)
                {
                    session.Flush();
                }
            });

            if (PassThru)
            {
                WriteObject(new VirtioBlkSectorWriteResult
                {
                    Path = device,
                    Disk = target.Disk,
                    Mode = path,
                    Sector = Sector,
                    Count = count,
                    Length = data.Length,
                    Vectored = Vectored,
                    Polled = Poll,
                    FixedBuffer = FixedBuffer,
                    Flushed = Flush,
                    LatencyMicroseconds = Math.Round(micros, 1),
                });
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or OperationCanceledException)
        {
            Report(e, Path);
        }
    }

    private byte[]? JoinInput()
    {
        if (_inputLength > ErrorRecords.MaxTransferLength)
        {
            WriteError(ErrorRecords.LengthTooLarge(_inputLength, Path));
            return null;
        }

        var data = new byte[_inputLength];
        int at = 0;
        foreach (byte[] piece in _pieces)
        {
            piece.CopyTo(data, at);
            at += piece.Length;
        }

        _pieces.Clear();
        return data;
    }

    private byte[]? ReadSource()
    {
        string file = SessionState.Path.GetUnresolvedProviderPathFromPSPath(SourcePath);
        try
        {
            long length = new FileInfo(file).Length;
            if (length > ErrorRecords.MaxTransferLength)
            {
                WriteError(ErrorRecords.LengthTooLarge(length, SourcePath));
                return null;
            }

            return File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(ErrorRecords.SourceUnreadable(SourcePath, e));
            return null;
        }
    }
}
