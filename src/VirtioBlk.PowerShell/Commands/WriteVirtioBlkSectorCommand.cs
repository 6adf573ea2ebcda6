using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using VirtioBlk.Core;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;
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

        try
        {
            DiskIdentity disk = DiskIdentity.Resolve(Path);
            if (data.Length == 0)
            {
                WriteError(ErrorRecords.InvalidLength(ParameterSetName == SourcePathSet ? $"'{SourcePath}' is empty" : "The input is empty", Path));
                return;
            }

            IoRules.CheckDataLength(disk.Geometry, data.Length);
            ulong count = (ulong)data.Length / 512;
            IoPathKind path = Plan(disk, count, IoKnob.Length);
            IoRules.CheckWritable(disk.Geometry);
            if (!Force && ErrorRecords.WriteRefusal(disk.Disk, Path) is ErrorRecord busy)
            {
                WriteError(busy);
                return;
            }

            string device = disk.PathFor(path)!;
            string action = $"Write {data.Length} bytes to sectors {Sector}..{Sector + count - 1} (bytes {Sector * 512}..{Sector * 512 + (ulong)data.Length - 1}) "
                + $"through the {(path == IoPathKind.Passthrough ? "passthrough char device" : "block device")}{(Flush ? ", then flush" : "")}";

            // Opening claims the disk (O_EXCL unless -Force), so a busy disk is reported before anyone is asked to confirm.
            using SectorIoSession session = SectorIoSession.Open(device, OptionsFor(disk, path, data.Length, write: true, exclusive: !Force));
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
                    Disk = disk.Disk,
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
        catch (Exception e) when (ErrorRecords.IsReportable(e))
        {
            Report(e, Path);
        }
    }

    private byte[]? JoinInput()
    {
        if (_inputLength > ErrorRecords.MaxTransferLength)
        {
            WriteError(ErrorRecords.FromException(new IoRequestException(IoProblem.TooLarge, IoKnob.Length,
                $"The input is {_inputLength} bytes, more than the {IoRules.MaxTransferBytes} bytes ({IoRules.MaxTransferBytes >> 20} MiB) one call moves.")
            { Value = (ulong)_inputLength, Limit = (ulong)IoRules.MaxTransferBytes }, Path));
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
                WriteError(ErrorRecords.FromException(new IoRequestException(IoProblem.TooLarge, IoKnob.Length,
                    $"'{SourcePath}' is {length} bytes, more than the {IoRules.MaxTransferBytes} bytes ({IoRules.MaxTransferBytes >> 20} MiB) one call moves.")
                { Value = (ulong)length, Limit = (ulong)IoRules.MaxTransferBytes }, SourcePath));
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
