using System;
using System.Diagnostics;
using System.Management.Automation;
using System.Threading;
using VirtioBlk.Core;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Uring;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell;

/// <summary>
/// What Read- and Write-VirtioBlkSector share: the mode switches, the choice of path, the range checks, and
/// Ctrl+C. The I/O itself is <see cref="SectorIoSession"/>'s; it runs on the pipeline thread and reports progress
/// through a callback on that same thread, so nothing here is called from another thread.
/// </summary>
public abstract class SectorIoCommandBase : PSCmdlet, IDisposable
{
    private const int ProgressActivityId = 0x7B1C;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>First sector, in 512-byte units (the unit of the passthrough command); a multiple of the logical block size in sectors.</summary>
    [Parameter(Mandatory = true, Position = 1)]
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

    /// <summary>The path to use for <paramref name="target"/>, or null after reporting why none can be.</summary>
    private protected IoPathKind? ChoosePath(SectorTarget target)
    {
        string where = target.Requested;
        IoPathKind path;
        switch (Mode)
        {
            case VirtioBlkIoMode.Passthrough:
                // The switches first: the combination is refused whatever the disk.
                if (Vectored && FixedBuffer)
                {
                    WriteError(ErrorRecords.UnsupportedCombination("-Mode Passthrough with -Vectored and -FixedBuffer",
                        "the kernel refuses VIRTBLK_URING_CMD_IO_VEC on a registered buffer (IORING_URING_CMD_FIXED works only with VIRTBLK_URING_CMD_IO).",
                        where, "Drop -Vectored or -FixedBuffer, or use -Mode Block."));
                    return null;
                }

                if (!target.IsVirtio)
                {
                    WriteError(ErrorRecords.PassthroughNeedsVirtio(where, target.Disk, target.Driver));
                    return null;
                }

                if (target.CharDevicePath is null)
                {
                    WriteError(ErrorRecords.PassthroughUnavailable(target.Disk));
                    return null;
                }

                path = IoPathKind.Passthrough;
                break;
            case VirtioBlkIoMode.Block:
                path = IoPathKind.Block;
                break;
            default:
                // Auto: passthrough only when it can work; every reason to fall back is one the cmdlet can see.
                path = target.CharDevicePath is not null && !(Vectored && FixedBuffer) && ProcessCapabilities.HasSysAdmin()
                    ? IoPathKind.Passthrough
                    : IoPathKind.Block;
                break;
        }

        if (path == IoPathKind.Block && Vectored && FixedBuffer && !IoUringKernel.IsSupported(IoUringOp.ReadvFixed))
        {
            WriteError(ErrorRecords.UnsupportedCombination("-Vectored with -FixedBuffer on the block device",
                "vectored I/O on a registered buffer needs IORING_OP_READV_FIXED/WRITEV_FIXED (Linux 6.15), which this kernel lacks.",
                where, "Drop -Vectored or -FixedBuffer."));
            return null;
        }

        if (Poll && !target.Geometry.IoPoll)
        {
            WriteError(ErrorRecords.PollUnavailable(target.Disk, where));
            return null;
        }

        return path;
    }

    /// <summary>Checks -Sector and a length in sectors against the disk; reports and returns false when they don't fit.</summary>
    private protected bool CheckRange(SectorTarget target, ulong count)
    {
        DiskGeometry g = target.Geometry;
        int perBlock = g.SectorsPerBlock;
        if (Sector % (ulong)perBlock != 0)
        {
            WriteError(ErrorRecords.UnalignedSectors("Sector", Sector, perBlock, g.LogicalBlockSize, target.Requested));
            return false;
        }

        if (count * 512 > ErrorRecords.MaxTransferLength)
        {
            WriteError(ErrorRecords.LengthTooLarge((long)Math.Min(count * 512, long.MaxValue), target.Requested));
            return false;
        }

        if (Sector >= g.Sectors || count > g.Sectors - Sector)
        {
            WriteError(ErrorRecords.SectorsBeyondEnd(Sector, count, g.Sectors, target.Requested));
            return false;
        }

        return true;
    }

    /// <summary>Session options for one transfer of <paramref name="length"/> bytes: split by the disk's limits, several I/Os in flight.</summary>
    private protected SectorIoOptions OptionsFor(SectorTarget target, IoPathKind path, long length, bool write, bool exclusive)
    {
        int lbs = target.Geometry.LogicalBlockSize;
        int chunk = Math.Min(target.Geometry.MaxUnsplitIoBytes, 1 << 20);
        chunk = (int)Math.Min(chunk, length);
        chunk = Math.Max(lbs, chunk / lbs * lbs);
        int ios = (int)Math.Min(16, (length + chunk - 1) / chunk);
        return new SectorIoOptions
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

    /// <summary>Reports a failure of the I/O for this item; a canceled transfer ends the pipeline quietly.</summary>
    private protected void Report(Exception e, object target)
    {
        if (e is OperationCanceledException && _stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }

        WriteError(ErrorRecords.FromException(e, target));
    }
}
