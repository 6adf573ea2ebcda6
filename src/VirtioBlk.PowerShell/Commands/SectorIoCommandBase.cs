using System;
using System.Diagnostics;
using System.Management.Automation;
using System.Threading;
using VirtioBlk.Core;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell;

/// <summary>How Read-/Write-VirtioBlkSector reach the disk.</summary>
public enum VirtioBlkIoMode
{
    /// <summary>Passthrough where the char device is usable (present, CAP_SYS_ADMIN, a combination it allows), else the block device.</summary>
    Auto,

    /// <summary>The char device /dev/vdXc0 with IORING_OP_URING_CMD.</summary>
    Passthrough,

    /// <summary>The block device with O_DIRECT.</summary>
    Block,
}

/// <summary>
/// What Read- and Write-VirtioBlkSector share: the mode switches, the choice of path, the range checks, and
/// Ctrl+C. The I/O itself is <see cref="SectorIoSession"/>'s; it runs on the pipeline thread and reports progress
/// through a callback on that same thread, so nothing here is called from another thread.
/// </summary>
public abstract class SectorIoCommandBase : PSCmdlet, IDisposable
{
    private const int ProgressActivityId = 0x7B1C;
    private protected const string PathSet = "Path";
    private protected const string LiteralPathSet = "LiteralPath";
    private readonly CancellationTokenSource _stop = new();

    /// <summary>First sector, in 512-byte units (the unit of the passthrough command); a multiple of the logical block size in sectors.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [WholeNumber]
    public ulong Sector { get; set; }

    /// <summary>Auto (passthrough where the char device is usable, else block), Passthrough (/dev/vdXc0) or Block (/dev/vdX).</summary>
    [Parameter]
    public VirtioBlkIoMode Mode { get; set; } = VirtioBlkIoMode.Auto;

    /// <summary>Vectored I/O: READV/WRITEV on the block path, VIRTBLK_URING_CMD_IO_VEC on passthrough, several iovecs per I/O.</summary>
    [Parameter]
    public SwitchParameter Vectored { get; set; }

    /// <summary>Polled completions: an IORING_SETUP_IOPOLL ring. The disk needs poll queues (virtio_blk.poll_queues=N).</summary>
    [Parameter]
    [Alias("IoPoll", "Hipri")]
    public SwitchParameter Poll { get; set; }

    /// <summary>A registered (fixed) buffer: READ_FIXED/WRITE_FIXED, or IORING_URING_CMD_FIXED on passthrough.</summary>
    [Parameter]
    public SwitchParameter FixedBuffer { get; set; }

    /// <summary>Ctrl+C: the session stops issuing, drains what is in flight, then frees its buffers.</summary>
    protected override void StopProcessing() => _stop.Cancel();

    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The path this cmdlet's -Mode asks for: null lets the core choose (auto).</summary>
    private protected IoPathKind? RequestedPath => Mode switch
    {
        VirtioBlkIoMode.Passthrough => IoPathKind.Passthrough,
        VirtioBlkIoMode.Block => IoPathKind.Block,
        _ => null,
    };

    /// <summary>
    /// Everything the core checks before I/O, in the order a user meets it: the path for this disk and mode, the
    /// mode switches, the sectors. Throws the core's <see cref="IoRequestException"/>; nothing is opened.
    /// </summary>
    private protected IoPathKind Plan(DiskIdentity disk, ulong sectorCount, IoKnob countKnob)
    {
        IoRules.CheckSectorRange(disk.Geometry, Sector, sectorCount, countKnob);
        (IoPathKind path, string why) = IoRules.ChoosePath(disk, RequestedPath, Vectored, FixedBuffer);
        IoRules.CheckMode(disk.Geometry, path, Vectored, FixedBuffer, Poll);
        WriteVerbose($"{disk.Requested}: disk {disk.Disk}, {path} path ({why}).");
        return path;
    }

    /// <summary>Session options for one transfer of <paramref name="length"/> bytes: split by the disk's limits, several I/Os in flight.</summary>
    private protected SectorIoOptions OptionsFor(DiskIdentity disk, IoPathKind path, long length, bool write, bool exclusive)
    {
        int chunk = SectorIoOptions.ChunkFor(disk.Geometry, length);
        int ios = (int)Math.Min(16, (length + chunk - 1) / chunk);
        var options = new SectorIoOptions
        {
            Path = path,
            Vectored = Vectored,
            Poll = Poll,
            FixedBuffer = FixedBuffer,
            QueueDepth = Math.Max(1, ios),
            MaxIoBytes = chunk,
            Write = write,
            Exclusive = exclusive,
        };
        WriteVerbose($"{length} bytes as {(length + chunk - 1) / chunk} I/Os of up to {chunk} bytes, {options.QueueDepth} in flight"
            + $"{(Vectored ? $", up to {IoShape.MaxIovecs} iovecs each" : "")}{(FixedBuffer ? ", registered buffer" : "")}{(Poll ? ", polled ring" : "")}.");
        return options;
    }

    /// <summary>
    /// Runs one transfer with Ctrl+C and a progress bar that appears only when it takes long. Returns the elapsed
    /// time in microseconds.
    /// </summary>
    private protected double Run(string activity, long total, Action<Action<long>, CancellationToken> transfer)
    {
        var clock = Stopwatch.StartNew();
        bool shown = false;
        var record = new ProgressRecord(ProgressActivityId, activity, "Starting");
        void Progress(long done)
        {
            if (clock.ElapsedMilliseconds < 500 || done >= total)
            {
                return;
            }

            shown = true;
            record.PercentComplete = (int)(done * 100 / Math.Max(total, 1));
            record.StatusDescription = $"{done / (1 << 20)} of {total / (1 << 20)} MiB";
            WriteProgress(record);
        }

        try
        {
            transfer(Progress, _stop.Token);
            return clock.Elapsed.TotalMilliseconds * 1000;
        }
        finally
        {
            if (shown)
            {
                record.RecordType = ProgressRecordType.Completed;
                WriteProgress(record);
            }
        }
    }

    /// <summary>Reports a failure of this item; a canceled transfer ends the pipeline quietly.</summary>
    private protected void Report(Exception e, object target)
    {
        if (e is OperationCanceledException && _stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }

        WriteError(ErrorRecords.FromException(e, target));
    }
}
