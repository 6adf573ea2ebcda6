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
    DefaultParameterSetName = InputPathSet)]
[OutputType(typeof(VirtioBlkSectorWriteResult))]
public sealed class WriteVirtioBlkSectorCommand : SectorIoCommandBase
{
    private const string InputPathSet = "InputObjectPath";
    private const string InputLiteralSet = "InputObjectLiteralPath";
    private const string SourcePathSet = "SourcePathPath";
    private const string SourceLiteralSet = "SourcePathLiteralPath";

    private readonly List<byte[]> _pieces = new();
    private long _inputLength;
    private int _inputItems;
    private int _rejectedItems;

    /// <summary>
    /// The disks: block devices (/dev/vdb, /dev/loop0), passthrough char devices (/dev/vdbc0) or kernel names
    /// (vdb), resolved like Get-Content -Path. Not taken from the pipeline, so piped data can never pick its own
    /// target. Several disks get the same data.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = InputPathSet)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = SourcePathSet)]
    [Alias("DevicePath")]
    [ArgumentCompleter(typeof(VirtioBlkDevicePathCompleter))]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Like -Path, but taken exactly as typed: no wildcards.</summary>
    [Parameter(Mandatory = true, ParameterSetName = InputLiteralSet)]
    [Parameter(Mandatory = true, ParameterSetName = SourceLiteralSet)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>
    /// The data: byte[] (or single bytes) from the pipeline, or a read result's Bytes (or its Base64, after
    /// ConvertTo-Json / Export-Csv and back); all input is written as one
    /// run. Anything that is not bytes (a string, an object) fails the whole write before anything is written.
    /// </summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = InputPathSet)]
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = InputLiteralSet)]
    [Alias("Bytes")]
    [AllowEmptyCollection]
    [AllowNull]
    public PSObject? InputObject { get; set; }

    /// <summary>A regular file whose whole content is written; its length must be a multiple of the logical block size.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SourcePathSet)]
    [Parameter(Mandatory = true, ParameterSetName = SourceLiteralSet)]
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

    private bool FromSource => ParameterSetName is SourcePathSet or SourceLiteralSet;

    protected override void ProcessRecord()
    {
        if (FromSource)
        {
            return;
        }

        _inputItems++;
        if (!TryTakeBytes(InputObject, out byte[]? piece))
        {
            // Writing the rest would shift everything after this item: the whole write is refused in EndProcessing.
            _rejectedItems++;
            object? item = InputObject?.BaseObject;
            WriteError(ErrorRecords.Create(ErrorRecords.InputNotBytesId, ErrorCategory.InvalidType,
                $"Input item {_inputItems} ({(item is null ? "null" : item.GetType().Name)}) is not bytes.",
                item, "Pipe byte[], bytes or read results (a read result from JSON or CSV needs its Base64 whole, as long as its Length says); for text, pipe [System.Text.Encoding]::UTF8.GetBytes($text). Nothing is written while any item is refused."));
            return;
        }

        _inputLength += piece.Length;
        if (_inputLength <= ErrorRecords.MaxTransferLength)
        {
            _pieces.Add(piece); // past the limit only the length is kept: EndProcessing reports it
        }
    }

    protected override void EndProcessing()
    {
        if (_rejectedItems > 0)
        {
            WriteError(ErrorRecords.Create(ErrorRecords.IncompleteInputId, ErrorCategory.InvalidData,
                $"Nothing was written: {_rejectedItems} of {_inputItems} input items were not bytes, and writing the others as one run would shift the data after them.",
                string.Join(", ", Targets), "Fix the input so every item is a byte[] or a byte, then run the write again."));
            return;
        }

        byte[]? data = FromSource ? ReadSource() : JoinInput();
        if (data is null)
        {
            return;
        }

        foreach (DevicePaths.Item item in DevicePaths.Resolve(this, Targets, literal: ParameterSetName is InputLiteralSet or SourceLiteralSet))
        {
            WriteOne(item, data);
        }
    }

    private string[] Targets => ParameterSetName is InputLiteralSet or SourceLiteralSet ? LiteralPath : Path;

    private void WriteOne(DevicePaths.Item item, byte[] data)
    {
        try
        {
            DiskIdentity disk = DiskIdentity.Resolve(item.Resolved) with { Requested = item.Requested };
            if (data.Length == 0)
            {
                WriteError(ErrorRecords.InvalidLength(FromSource ? $"'{SourcePath}' is empty" : "The input is empty", item.Requested));
                return;
            }

            IoRules.CheckDataLength(disk.Geometry, data.Length);
            ulong count = (ulong)data.Length / 512;
            IoPathKind path = Plan(disk, count, IoKnob.Length);
            IoRules.CheckWritable(disk.Geometry);
            if (!Force && ErrorRecords.WriteRefusal(disk.Disk, item.Requested) is ErrorRecord busy)
            {
                WriteError(busy);
                return;
            }

            string device = disk.PathFor(path)!;
            string action = $"Write {data.Length} bytes to sectors {Sector}..{Sector + count - 1} (bytes {Sector * 512}..{Sector * 512 + (ulong)data.Length - 1}) "
                + $"through the {(path == IoPathKind.Passthrough ? "passthrough char device" : "block device")}{(Flush ? ", then flush" : "")}";

            // Asked before the device is opened, so -WhatIf touches nothing; a disk claimed meanwhile fails the open.
            if (!ShouldProcess(device, action))
            {
                return;
            }

            using SectorIoSession session = SectorIoSession.Open(device, OptionsFor(disk, path, data.Length, write: true, exclusive: !Force), WriteVerbose);
            double micros = Run($"Writing {device}", data.Length, (progress, cancel) =>
            {
                session.Write(Sector, data, progress, cancel);
                if (Flush)
                {
                    session.Flush();
                    WriteVerbose($"Flushed with {session.FlushedBy}.");
                }
            });
            WriteVerbose($"Wrote {data.Length} bytes to {device} in {micros:0.0} us.");

            if (PassThru)
            {
                WriteObject(new VirtioBlkSectorWriteResult
                {
                    Path = device,
                    Disk = disk.Disk,
                    Mode = path.ToString(),
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
            Report(e, item.Requested);
        }
    }

    /// <summary>Bytes from one pipeline item: a byte[], a byte, or numbers 0-255; never text or other objects.</summary>
    private static bool TryTakeBytes(PSObject? input, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? bytes)
    {
        bytes = null;
        object? value = input?.BaseObject;
        switch (value)
        {
            case null:
                return false;
            case byte[] b:
                bytes = b;
                return true;
            case byte one:
                bytes = new[] { one };
                return true;
            case string or char or char[]:
                return false;
            case object when input!.Properties["Bytes"]?.Value is object inner && inner is not PSObject { BaseObject: PSCustomObject }:
                // A read result (or its deserialized copy): its Bytes, as binding by property name would take them.
                return TryTakeBytes(PSObject.AsPSObject(inner), out bytes);
            case object when input!.Properties["Base64"]?.Value is object text && PSObject.AsPSObject(text).BaseObject is string base64:
                // A read result that went through ConvertTo-Json or Export-Csv and back: its Base64, whole or refused
                // (a spreadsheet that cut the cell leaves fewer bytes than the Length beside it says).
                return TryFromBase64(base64, input.Properties["Length"]?.Value, out bytes);
            case sbyte or short or ushort or int or uint or long or ulong:
            case System.Collections.IEnumerable:
                return LanguagePrimitives.TryConvertTo(value, System.Globalization.CultureInfo.InvariantCulture, out bytes)
                    && !(value is System.Collections.IEnumerable e && ContainsText(e));
            default:
                return false;
        }
    }

    private static bool TryFromBase64(string text, object? length, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? bytes)
    {
        bytes = null;
        byte[] decoded = new byte[(text.Length / 4 + 1) * 3];
        if (!Convert.TryFromBase64String(text, decoded, out int n))
        {
            return false;
        }
        if (length is not null
            && (!LanguagePrimitives.TryConvertTo(length, System.Globalization.CultureInfo.InvariantCulture, out long expected) || expected != n))
        {
            return false;
        }
        bytes = n == decoded.Length ? decoded : decoded.AsSpan(0, n).ToArray();
        return true;
    }

    private static bool ContainsText(System.Collections.IEnumerable items)
    {
        foreach (object? o in items)
        {
            if ((o is PSObject p ? p.BaseObject : o) is string or char)
            {
                return true;
            }
        }

        return false;
    }

    private byte[]? JoinInput()
    {
        if (_inputLength > ErrorRecords.MaxTransferLength)
        {
            WriteError(ErrorRecords.FromException(new IoRequestException(IoProblem.TooLarge, IoKnob.Length,
                $"The input is {_inputLength} bytes, more than the {IoRules.MaxTransferBytes} bytes ({IoRules.MaxTransferBytes >> 20} MiB) one call moves.")
            { Value = (ulong)_inputLength, Limit = (ulong)IoRules.MaxTransferBytes }, string.Join(", ", Targets)));
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

    /// <summary>The whole of -SourcePath, which must be one regular file; read no further than its length when opened.</summary>
    private byte[]? ReadSource()
    {
        string file;
        try
        {
            file = SessionState.Path.GetUnresolvedProviderPathFromPSPath(SourcePath);
        }
        catch (Exception e) when (e is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or ArgumentException)
        {
            WriteError(ErrorRecords.SourceUnreadable(SourcePath, new FileNotFoundException(e.Message, SourcePath, e)));
            return null;
        }

        DeviceNodeInfo node = DeviceNodeInfo.Stat(file);
        if (node.Kind != DeviceNodeKind.RegularFile)
        {
            if (node.Kind == DeviceNodeKind.Missing)
            {
                WriteError(ErrorRecords.SourceUnreadable(SourcePath, new FileNotFoundException($"Could not find file '{file}'.", file)));
            }
            else
            {
                WriteError(ErrorRecords.SourceNotFile(SourcePath, node.Kind == DeviceNodeKind.Other && Directory.Exists(file) ? "a directory"
                    : node.Kind switch
                    {
                        DeviceNodeKind.BlockDevice => "a block device",
                        DeviceNodeKind.CharacterDevice => "a character device (such as /dev/zero), which has no end",
                        _ => "not a regular file (a FIFO or socket has no fixed length)",
                    }));
            }

            return null;
        }

        if ((long)node.Size > ErrorRecords.MaxTransferLength)
        {
            WriteError(ErrorRecords.FromException(new IoRequestException(IoProblem.TooLarge, IoKnob.Length,
                $"'{SourcePath}' is {node.Size} bytes, more than the {IoRules.MaxTransferBytes} bytes ({IoRules.MaxTransferBytes >> 20} MiB) one call moves.")
            { Value = node.Size, Limit = (ulong)IoRules.MaxTransferBytes }, SourcePath));
            return null;
        }

        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var data = new byte[node.Size];
            int read = 0;
            while (read < data.Length && stream.Read(data, read, data.Length - read) is int n and > 0)
            {
                read += n;
            }

            // A file that shrank meanwhile gives what it had; one that grew gives only its length at the start.
            return read == data.Length ? data : data[..read];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(ErrorRecords.SourceUnreadable(SourcePath, e));
            return null;
        }
    }
}
