using System;
using System.IO;
using System.Management.Automation;
using VirtioBlk.Core;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Io;

namespace VirtioBlk.PowerShell;

/// <summary>
/// The one place that turns failures into ErrorRecords. Every cmdlet reports through here, so an error id means
/// the same thing whichever cmdlet raised it, and scripts can rely on it. PowerShell appends the cmdlet class to
/// the id: the FullyQualifiedErrorId is "VirtioBlkDeviceNotFound,VirtioBlk.PowerShell.GetVirtioBlkDeviceCommand".
/// </summary>
/// <remarks>
/// Ids are stable: add new ones, never rename. Each message says what happened, then what to do.
///
/// | Error id                          | Category            | Raised for |
/// |-----------------------------------|---------------------|------------|
/// | VirtioBlkDeviceNotFound           | ObjectNotFound      | a plain -Name that is no block device |
/// | VirtioBlkNotVirtioDisk            | InvalidArgument     | a block device with another driver (loop0, zram0, nvme0n1) |
/// | VirtioBlkPartitionNotDisk         | InvalidArgument     | a partition (vda1) where a whole disk is needed |
/// | VirtioBlkSysfsUnreadable          | ReadError           | a disk's sysfs attributes vanished or are malformed (unplugged meanwhile) |
/// | VirtioBlkPassthroughUnavailable   | NotInstalled        | no /dev/vdXc0: the kernel lacks the passthrough series |
/// | VirtioBlkDiskInUse                | ResourceBusy        | write refused: mounted, swap, or held (<see cref="DiskUsage"/>) |
/// | VirtioBlkUnaligned                | InvalidArgument     | offset/length not a multiple of the logical block size (O_DIRECT) |
/// | VirtioBlkBeyondEndOfDevice        | InvalidArgument     | offset + length past the end of the disk |
/// | VirtioBlkNotBlockDevice           | InvalidArgument     | -Path is a file, directory or other char device, not a disk |
/// | VirtioBlkInvalidLength            | InvalidArgument     | nothing to transfer: -Count 0, empty input or source file |
/// | VirtioBlkLengthTooLarge           | LimitsExceeded      | one call would transfer more than <see cref="MaxTransferLength"/> bytes |
/// | VirtioBlkUnsupportedCombination   | InvalidArgument     | switches the kernel forbids together (passthrough + -Vectored + -FixedBuffer) |
/// | VirtioBlkPollUnavailable          | NotEnabled          | -Poll on a disk without poll queues (queue/io_poll = 0) |
/// | VirtioBlkIoUringDisabled          | NotEnabled          | io_uring_setup refused by sysctl kernel.io_uring_disabled |
/// | VirtioBlkDeviceStatus             | ReadError/WriteError/DeviceError, NotImplemented | virtio status IOERR / UNSUPP from a passthrough command |
/// | VirtioBlkSourceUnreadable         | ObjectNotFound/ReadError | Write-VirtioBlkSector -SourcePath missing or unreadable |
/// | VirtioBlkDiskRemoved              | ResourceUnavailable | the disk went away (hot-unplug, device_del) while a transfer or benchmark ran on it (<see cref="DiskRemovedException"/>) |
/// | From an IoUringException, by errno (<see cref="FromIoUring"/>): |||
/// | VirtioBlkAccessDenied             | PermissionDenied    | EPERM, EACCES; EBADF of a write or flush (node opened read-only) |
/// | VirtioBlkReadOnly                 | PermissionDenied    | EROFS |
/// | VirtioBlkPathNotFound             | ObjectNotFound      | ENOENT, ENODEV, ENXIO |
/// | VirtioBlkInvalidArgument          | InvalidArgument     | EINVAL, EFAULT, ERANGE, E2BIG |
/// | VirtioBlkNotSupported             | NotImplemented      | EOPNOTSUPP, ENOTTY |
/// | VirtioBlkIoUringUnavailable       | NotImplemented      | ENOSYS |
/// | VirtioBlkDeviceBusy               | ResourceBusy        | EBUSY, EAGAIN, EALREADY |
/// | VirtioBlkIoError                  | ReadError/WriteError/DeviceError | EIO (by operation: READ*, WRITE*, other) |
/// | VirtioBlkNoSpace                  | LimitsExceeded      | ENOSPC, EFBIG |
/// | VirtioBlkOutOfResources           | ResourceUnavailable | ENOMEM, EMFILE, ENFILE |
/// | VirtioBlkTimedOut                 | OperationTimeout    | ETIME, ETIMEDOUT |
/// | VirtioBlkCanceled                 | OperationStopped    | ECANCELED, EINTR |
/// | VirtioBlkSystemCallFailed         | NotSpecified        | any other errno |
/// </remarks>
public static class ErrorRecords
{
    public const string DeviceNotFoundId = "VirtioBlkDeviceNotFound";
    public const string NotVirtioDiskId = "VirtioBlkNotVirtioDisk";
    public const string PartitionNotDiskId = "VirtioBlkPartitionNotDisk";
    public const string SysfsUnreadableId = "VirtioBlkSysfsUnreadable";
    public const string PassthroughUnavailableId = "VirtioBlkPassthroughUnavailable";
    public const string DiskInUseId = "VirtioBlkDiskInUse";
    public const string UnalignedId = "VirtioBlkUnaligned";
    public const string BeyondEndOfDeviceId = "VirtioBlkBeyondEndOfDevice";
    public const string AccessDeniedId = "VirtioBlkAccessDenied";
    public const string ReadOnlyId = "VirtioBlkReadOnly";
    public const string PathNotFoundId = "VirtioBlkPathNotFound";
    public const string InvalidArgumentId = "VirtioBlkInvalidArgument";
    public const string NotSupportedId = "VirtioBlkNotSupported";
    public const string IoUringUnavailableId = "VirtioBlkIoUringUnavailable";
    public const string DeviceBusyId = "VirtioBlkDeviceBusy";
    public const string IoErrorId = "VirtioBlkIoError";
    public const string NoSpaceId = "VirtioBlkNoSpace";
    public const string OutOfResourcesId = "VirtioBlkOutOfResources";
    public const string TimedOutId = "VirtioBlkTimedOut";
    public const string CanceledId = "VirtioBlkCanceled";
    public const string SystemCallFailedId = "VirtioBlkSystemCallFailed";
    public const string NotBlockDeviceId = "VirtioBlkNotBlockDevice";
    public const string InvalidLengthId = "VirtioBlkInvalidLength";
    public const string LengthTooLargeId = "VirtioBlkLengthTooLarge";
    public const string UnsupportedCombinationId = "VirtioBlkUnsupportedCombination";
    public const string PollUnavailableId = "VirtioBlkPollUnavailable";
    public const string IoUringDisabledId = "VirtioBlkIoUringDisabled";
    public const string DeviceStatusId = "VirtioBlkDeviceStatus";
    public const string SourceUnreadableId = "VirtioBlkSourceUnreadable";
    public const string DiskRemovedId = "VirtioBlkDiskRemoved";

    public const string NoMediumId = "VirtioBlkNoMedium";
    public const string InputNotBytesId = "VirtioBlkInputNotBytes";
    public const string IncompleteInputId = "VirtioBlkIncompleteInput";
    public const string SourceNotFileId = "VirtioBlkSourceNotFile";
    public const string BufferTooLargeId = "VirtioBlkBufferTooLarge";

    /// <summary>The most bytes one Read-/Write-VirtioBlkSector call moves: the core's limit.</summary>
    public const long MaxTransferLength = IoRules.MaxTransferBytes;

    /// <summary>
    /// An ErrorRecord for one of the module's own conditions. <paramref name="message"/> says what happened;
    /// <paramref name="recommendedAction"/> says what to do and goes in ErrorDetails.RecommendedAction (pwsh prints it
    /// as "Recommendation:"). Without <paramref name="exception"/> an exception of the category's usual .NET type is
    /// made, so `catch [System.ArgumentException]` works for InvalidArgument.
    /// </summary>
    public static ErrorRecord Create(string errorId, ErrorCategory category, string message, object? target,
        string? recommendedAction = null, Exception? exception = null)
    {
        exception ??= category switch
        {
            ErrorCategory.ObjectNotFound => new ItemNotFoundException(message),
            ErrorCategory.InvalidArgument => new ArgumentException(message),
            ErrorCategory.PermissionDenied => new UnauthorizedAccessException(message),
            ErrorCategory.NotImplemented or ErrorCategory.NotInstalled => new NotSupportedException(message),
            ErrorCategory.ReadError or ErrorCategory.WriteError or ErrorCategory.DeviceError => new IOException(message),
            _ => new InvalidOperationException(message),
        };
        return new ErrorRecord(exception, errorId, category, target)
        {
            ErrorDetails = new ErrorDetails(message) { RecommendedAction = recommendedAction ?? "" },
        };
    }

    /// <summary>A failed system call or io_uring operation, classified by its errno (see the table above).</summary>
    public static ErrorRecord FromIoUring(IoUringException e, object? target)
    {
        if (e is DiskRemovedException removed)
        {
            return Create(DiskRemovedId, ErrorCategory.ResourceUnavailable, e.Message, target ?? e.Path,
                $"{removed.Disk} was removed from the machine (hot-unplugged, or its device deleted in the hypervisor); "
                + "nothing after the failed I/O was done. List the disks with Get-VirtioBlkDevice, and run the command again once it is back.", e);
        }

        if (e is VirtioBlk.Core.Devices.VirtioBlkStatusException status)
        {
            return DeviceStatus(status, target);
        }

        if (e.Errno == Errno.EPERM && e.Kind == IoOperationKind.RingSetup && Sysfs.TryReadInt64(Sysfs.IoUringDisabledSysctl) is long disabled and > 0)
        {
            return IoUringDisabled(disabled, target, e);
        }

        string path = e.Path ?? target?.ToString() ?? "the device";
        (string id, ErrorCategory category, string action) = e.Errno switch
        {
            Errno.EPERM or Errno.EACCES => (AccessDeniedId, ErrorCategory.PermissionDenied,
                $"Run PowerShell as root: opening {path} needs read/write permission on the node, and passthrough "
                + "commands on /dev/vdXc0 need CAP_SYS_ADMIN. A disk that refuses even root (a host-protected root "
                + "disk) can only be inspected with Get-VirtioBlkDevice."),
            Errno.EBADF when e.Kind is IoOperationKind.Write or IoOperationKind.Flush => (AccessDeniedId, ErrorCategory.PermissionDenied,
                $"{path} was opened read-only, and the kernel takes passthrough OUT and FLUSH only on a node opened for "
                + "writing. Open it read-write (Write-VirtioBlkSector does); check the node's permissions (ls -l)."),
            Errno.EROFS => (ReadOnlyId, ErrorCategory.PermissionDenied,
                $"{path} is read-only (see the ReadOnly property of Get-VirtioBlkDevice; the device may offer "
                + "VIRTIO_BLK_F_RO). Use a writable disk, or clear the flag with 'blockdev --setrw' if an admin set it."),
            Errno.ENOENT or Errno.ENODEV or Errno.ENXIO => (PathNotFoundId, ErrorCategory.ObjectNotFound,
                "The device node is missing or its disk is gone. List the disks with Get-VirtioBlkDevice and use "
                + "one of their Path or CharDevicePath values."),
            Errno.EINVAL or Errno.EFAULT or Errno.ERANGE or Errno.E2BIG => (InvalidArgumentId, ErrorCategory.InvalidArgument,
                "Check that offset and length are multiples of the disk's LogicalBlockSize (O_DIRECT), that one "
                + "request stays within MaxTransferBytes, and, for passthrough, that the ring uses SQE128."),
            Errno.EOPNOTSUPP or Errno.ENOTTY => (NotSupportedId, ErrorCategory.NotImplemented,
                "The kernel or the device does not support this. Polled I/O needs poll queues (boot with "
                + "virtio_blk.poll_queues=N, check IoPoll with Get-VirtioBlkDevice); passthrough commands need a "
                + "kernel with the virtio-blk uring_cmd series (kernel/README.md in the VirtioBlk repository). Retry without -Poll or on the block device."),
            Errno.ENOSYS => (IoUringUnavailableId, ErrorCategory.NotImplemented,
                "io_uring is unavailable: the kernel lacks it, or it is disabled (sysctl kernel.io_uring_disabled, "
                + "or a seccomp filter in a container). Enable it, or run on a host that allows it."),
            Errno.EBUSY or Errno.EAGAIN or Errno.EALREADY => (DeviceBusyId, ErrorCategory.ResourceBusy,
                $"{path} is busy (opened exclusively, mounted, or the queue is full). Check InUse with "
                + "Get-VirtioBlkDevice, then retry, or lower the queue depth."),
            Errno.EIO => (IoErrorId, IoCategory(e.Kind),
                $"The device reported an I/O error on {path}. Check 'dmesg' for virtio_blk messages; the host side "
                + "of the disk (image file, backend) may have failed."),
            Errno.ENOSPC or Errno.EFBIG => (NoSpaceId, ErrorCategory.LimitsExceeded,
                "The request goes past a size limit of the device. Keep offset + length within SizeBytes."),
            Errno.ENOMEM or Errno.EMFILE or Errno.ENFILE => (OutOfResourcesId, ErrorCategory.ResourceUnavailable,
                "Out of memory or file descriptors. Registered buffers count against the locked-memory limit: "
                + "raise 'ulimit -l', use fewer or smaller buffers, or a smaller queue depth."),
            Errno.ETIME or Errno.ETIMEDOUT => (TimedOutId, ErrorCategory.OperationTimeout,
                "The operation did not complete in time. Check the device with 'dmesg', or allow a longer timeout."),
            Errno.ECANCELED or Errno.EINTR => (CanceledId, ErrorCategory.OperationStopped,
                "The operation was canceled or interrupted (Ctrl+C or a signal). Run it again."),
            _ => (SystemCallFailedId, ErrorCategory.NotSpecified,
                "See the errno above; 'man 2 io_uring_enter' and 'man 2 open' list what it means for each call."),
        };
        return Create(id, category, e.Message, target ?? e.Path, action, e);
    }

    /// <summary>
    /// Whether <paramref name="e"/> is a failure the module knows how to report: a cmdlet catches exactly these and
    /// lets anything else (a bug) surface as what it is.
    /// </summary>
    public static bool IsReportable(Exception e)
        => e is IoUringException or IoRequestException or DiskIdentityException or SysfsException
            or OperationCanceledException or UnauthorizedAccessException or ArgumentException;

    /// <summary>
    /// The one mapping from the core's failures to ErrorRecords: io_uring failures by errno, the core's refusals
    /// by their typed reason. <paramref name="parameterName"/> names a knob the way the calling cmdlet does
    /// ("-Sector"); by default "-" and the knob's name.
    /// </summary>
    public static ErrorRecord FromException(Exception e, object? target, Func<IoKnob, string>? parameterName = null)
    {
        Func<IoKnob, string> pn = parameterName ?? (k => "-" + k);
        return e switch
        {
            IoUringException io => FromIoUring(io, target),
            IoRequestException r => FromRequest(r, target, pn),
            DiskIdentityException d => FromIdentity(d, target, pn),
            SysfsException => Create(SysfsUnreadableId, ErrorCategory.ReadError, e.Message, target,
                "The disk may have been removed meanwhile; list the disks again with Get-VirtioBlkDevice.", e),
            OperationCanceledException => Create(CanceledId, ErrorCategory.OperationStopped, e.Message, target,
                "The operation was canceled (Ctrl+C). Run it again.", e),
            UnauthorizedAccessException => Create(AccessDeniedId, ErrorCategory.PermissionDenied, e.Message, target,
                "Run PowerShell as root.", e),
            ArgumentException => Create(InvalidArgumentId, ErrorCategory.InvalidArgument, e.Message, target,
                "Check the parameters against the disk's LogicalBlockSize and size (Get-VirtioBlkDevice).", e),
            _ => throw new ArgumentException($"{e.GetType().FullName} is not a failure the module reports; let it propagate.", nameof(e), e),
        };
    }

    /// <summary>A path or name that is not a whole disk.</summary>
    private static ErrorRecord FromIdentity(DiskIdentityException e, object? target, Func<IoKnob, string> pn)
    {
        ErrorRecord record = e.Problem switch
        {
            DiskIdentityProblem.NotFound => PathNotFound(e.Requested),
            DiskIdentityProblem.Partition => PartitionNotDisk(e.Requested, e.ParentDisk, pn(IoKnob.Path)),
            DiskIdentityProblem.RegularFile => NotBlockDevice(e.Requested, "a regular file"),
            DiskIdentityProblem.Directory => NotBlockDevice(e.Requested, "a directory"),
            DiskIdentityProblem.ForeignCharDevice => NotBlockDevice(e.Requested, "a character device that is not a virtio-blk passthrough node (/dev/vdXc0)"),
            _ => NotBlockDevice(e.Requested, "neither a block nor a character device"),
        };
        return record;
    }

    /// <summary>A request the core refused before submission, by its reason.</summary>
    private static ErrorRecord FromRequest(IoRequestException e, object? target, Func<IoKnob, string> pn)
    {
        string disk = e.Disk ?? target?.ToString() ?? "the disk";
        switch (e.Problem)
        {
            case IoProblem.Unaligned when e.Knob is IoKnob.Sector or IoKnob.Count:
                return UnalignedSectors(pn(e.Knob).TrimStart('-'), e.Value ?? 0, (int)(e.Step ?? 1), e.LogicalBlockSize ?? 512, target);
            case IoProblem.Unaligned when e.Knob == IoKnob.Length:
                return UnalignedLength((long)(e.Value ?? 0), e.LogicalBlockSize ?? 512, target);
            case IoProblem.Unaligned:
                // A knob's value (-BlockSize) rather than a disk position: InvalidArgument, as it always was.
                return Create(InvalidArgumentId, ErrorCategory.InvalidArgument, e.Message, target,
                    $"Use a multiple of {e.Step} for {pn(e.Knob)}.", e);
            case IoProblem.Empty:
                return InvalidLength(e.Knob == IoKnob.Length ? "The data is empty" : $"{pn(e.Knob)} covers no sector", target);
            case IoProblem.NoMedium:
                return Create(NoMediumId, ErrorCategory.ResourceUnavailable, e.Message, target,
                    $"Give {disk} a backing file or medium first (for a loop device: losetup {disk} FILE), or use another disk.", e);
            case IoProblem.BeyondEnd:
                ulong sectors = e.Limit ?? 0, count = e.Value ?? 0;
                return Create(BeyondEndOfDeviceId, ErrorCategory.InvalidArgument, e.Message, target,
                    count > sectors
                        ? $"The disk has only {sectors} sectors; use {pn(IoKnob.Count)} {sectors} or less."
                        : $"The disk has {sectors} sectors (0..{sectors - 1}); with {count} sectors, {pn(IoKnob.Sector)} can be at most {sectors - count}.", e);
            case IoProblem.TooLarge:
                return Create(LengthTooLargeId, ErrorCategory.LimitsExceeded, e.Message, target,
                    $"Split the transfer into calls of at most {MaxTransferLength / 512} sectors ({MaxTransferLength >> 20} MiB) each.", e);
            case IoProblem.BufferTooLarge:
                return Create(BufferTooLargeId, ErrorCategory.LimitsExceeded, e.Message, target,
                    $"Lower {pn(IoKnob.QueueDepth)}, {pn(IoKnob.BlockSize)} or {pn(IoKnob.Threads)}.", e);
            case IoProblem.VectoredFixedOnPassthrough:
                return UnsupportedCombination($"Passthrough with {pn(IoKnob.Vectored)} and {pn(IoKnob.FixedBuffer)}",
                    "the kernel refuses VIRTBLK_URING_CMD_IO_VEC on a registered buffer (IORING_URING_CMD_FIXED works only with VIRTBLK_URING_CMD_IO).",
                    target, $"Drop {pn(IoKnob.Vectored)} or {pn(IoKnob.FixedBuffer)}, or use the block path.", e);
            case IoProblem.VectoredFixedNeedsKernel:
                return UnsupportedCombination($"{pn(IoKnob.Vectored)} with {pn(IoKnob.FixedBuffer)} on the block device",
                    "vectored I/O on a registered buffer needs IORING_OP_READV_FIXED/WRITEV_FIXED (Linux 6.15), which this kernel lacks.",
                    target, $"Drop {pn(IoKnob.Vectored)} or {pn(IoKnob.FixedBuffer)}.", e);
            case IoProblem.PollUnavailable:
                return PollUnavailable(disk, target, pn(IoKnob.Poll));
            case IoProblem.PassthroughUnavailable:
                return PassthroughUnavailable(disk, e.Message);
            case IoProblem.PassthroughNeedsVirtio:
                return Create(NotVirtioDiskId, ErrorCategory.InvalidArgument, e.Message, target,
                    $"Use the block path for this disk; passthrough needs a virtio-blk disk with /dev/vdXc0.", e);
            case IoProblem.ReadOnlyDisk:
                return ReadOnlyDisk(disk, target);
            case IoProblem.VerifyNeedsWrite:
                return UnsupportedCombination($"{pn(IoKnob.Verify)} with a workload that is not a pure write", e.Message, target,
                    $"Use {pn(IoKnob.Verify)} with -Operation Write, or check data written earlier with -Operation Verify.", e);
            case IoProblem.CpuNotAllowed:
                return Create(InvalidArgumentId, ErrorCategory.InvalidArgument, e.Message, target,
                    $"Give {pn(IoKnob.CpuAffinity)} CPUs of the process's mask (see 'taskset -p $PID'), or leave it out to pin inside the mask.", e);
            case IoProblem.RangeOutsideDisk:
                return Create(BeyondEndOfDeviceId, ErrorCategory.InvalidArgument, e.Message, target,
                    $"Keep {pn(IoKnob.Range)} within the disk's {e.Limit} bytes (the SizeBytes property of Get-VirtioBlkDevice).", e);
            case IoProblem.RangeMalformed or IoProblem.RangeReversed or IoProblem.RangeEmpty or IoProblem.RangeOverflow or IoProblem.RangeHoldsNoBlock:
                return Create(InvalidArgumentId, ErrorCategory.InvalidArgument, $"{pn(IoKnob.Range)} {e.Message}", target,
                    e.Problem switch
                    {
                        IoProblem.RangeReversed => $"Give START-END with END after START, or START+LENGTH, e.g. {pn(IoKnob.Range)} 5M-10M.",
                        IoProblem.RangeEmpty => "Give a range of at least one block.",
                        IoProblem.RangeOverflow => "Use sizes below 16 EiB; the disk's size is the SizeBytes property of Get-VirtioBlkDevice.",
                        IoProblem.RangeHoldsNoBlock => $"Widen the range or lower {pn(IoKnob.BlockSize)}.",
                        _ => $"Write sizes as bytes or with a suffix, e.g. {pn(IoKnob.Range)} 1GiB+512MiB or {pn(IoKnob.Range)} 0-2G.",
                    }, e);
            default:
                return Create(InvalidArgumentId, ErrorCategory.InvalidArgument, e.Message, target,
                    e.Knob == IoKnob.None ? "Check the parameters against the disk (Get-VirtioBlkDevice shows its sizes and limits)."
                        : $"Change {pn(e.Knob)}; Get-VirtioBlkDevice shows the disk's sizes and limits.", e);
        }
    }

    /// <summary>A plain name (no wildcard) that is no block device at all.</summary>
    public static ErrorRecord DeviceNotFound(string name)
        => Create(DeviceNotFoundId, ErrorCategory.ObjectNotFound,
            $"No virtio-blk disk named '{name}' was found.",
            name,
            "Run Get-VirtioBlkDevice without -Name to list the virtio-blk disks; -Name takes a disk name (vdb), "
            + "its path (/dev/vdb), its passthrough node (vdbc0) or a wildcard (vd*).");

    /// <summary>A whole block device whose driver is not virtio_blk.</summary>
    public static ErrorRecord NotVirtioDisk(string name, string? driver)
        => Create(NotVirtioDiskId, ErrorCategory.InvalidArgument,
            $"'{name}' is a block device, but not a virtio-blk disk (driver: {driver ?? "none"}).",
            name,
            "This module only handles virtio-blk disks; list them with Get-VirtioBlkDevice.");

    /// <summary>A partition given where a whole disk is needed.</summary>
    public static ErrorRecord PartitionNotDisk(string name, string? disk, string parameter = "-Name")
        => Create(PartitionNotDiskId, ErrorCategory.InvalidArgument,
            $"'{name}' is a partition, not a disk.",
            name,
            disk is null ? "Give the whole disk." : $"Use the disk it belongs to: {parameter} {(parameter == "-Name" ? disk : "/dev/" + disk)}.");

    /// <summary>The disk has no passthrough char device.</summary>
    public static ErrorRecord PassthroughUnavailable(string disk, string? message = null)
        => Create(PassthroughUnavailableId, ErrorCategory.NotInstalled,
            message ?? $"'{disk}' has no passthrough char device (/dev/{disk}c0, class vblk-generic): the running kernel "
            + "does not carry the virtio-blk io_uring passthrough series.",
            disk,
            $"Use the block device /dev/{disk} instead (-Mode Block or Auto), or boot a kernel built with the "
            + "passthrough patches (kernel/README.md in the VirtioBlk repository says how); "
            + "Test-VirtioBlkPassthrough checks every prerequisite.");

    /// <summary>The refusal of a write to a disk in use (mounted, swap, held), or null when it is free.</summary>
    public static ErrorRecord? WriteRefusal(string disk, object? target)
    {
        DiskUsage usage = DiskUsage.Inspect(disk);
        return usage.IsInUse ? DiskInUse(usage, target) : null;
    }

    /// <summary>A write refused because the disk is mounted, swap, or held; see <see cref="DiskUsage.Inspect"/>.</summary>
    public static ErrorRecord DiskInUse(DiskUsage usage, object? target)
        => Create(DiskInUseId, ErrorCategory.ResourceBusy,
            $"'{usage.Disk}' is in use: {usage.Describe()}. Writing to it would corrupt what uses it.",
            target ?? usage.Disk,
            "Unmount its file systems, 'swapoff' its swap areas and remove its holders (dmsetup, mdadm --stop), "
            + "or write to a disk that Get-VirtioBlkDevice shows with InUse = False.");

    /// <summary>-Path names nothing.</summary>
    public static ErrorRecord PathNotFound(string path)
        => Create(PathNotFoundId, ErrorCategory.ObjectNotFound,
            $"'{path}' does not exist.",
            path,
            "Give a block device (/dev/vdb, /dev/loop0) or a passthrough char device (/dev/vdbc0); "
            + "Get-VirtioBlkDevice lists the virtio-blk disks and can be piped in.");

    /// <summary>-Path exists but is no disk (a file, a directory, /dev/null).</summary>
    public static ErrorRecord NotBlockDevice(string path, string what)
        => Create(NotBlockDeviceId, ErrorCategory.InvalidArgument,
            $"'{path}' is {what}, not a block device or a virtio-blk passthrough char device.",
            path,
            "Give a whole disk: /dev/vdX (or any block device, such as a loop device, on the block path) or /dev/vdXc0.");

    /// <summary>Passthrough asked of a disk that virtio_blk does not drive.</summary>
    public static ErrorRecord PassthroughNeedsVirtio(string path, string disk, string? driver)
        => Create(NotVirtioDiskId, ErrorCategory.InvalidArgument,
            $"'{path}' ({disk}, driver: {driver ?? "none"}) is not a virtio-blk disk, so it has no passthrough char device.",
            path,
            "Use -Mode Block (or Auto) for this disk; passthrough needs a virtio-blk disk with /dev/vdXc0.");

    /// <summary>-Sector or -Count not a multiple of the logical block size in 512-byte sectors; names the nearest valid values.</summary>
    public static ErrorRecord UnalignedSectors(string parameter, ulong value, int sectorsPerBlock, int logicalBlockSize, object? target)
    {
        ulong step = (ulong)sectorsPerBlock;
        ulong below = value / step * step;
        bool aboveFits = below <= ulong.MaxValue - step; // no wrap-around suggestion past 2^64
        ulong above = aboveFits ? below + step : below;
        string nearest = parameter == "Count" && below == 0 ? $"{above}" : aboveFits ? $"{below} or {above}" : $"{below}";
        return Create(UnalignedId, ErrorCategory.InvalidArgument,
            $"-{parameter} {value} is not a multiple of {sectorsPerBlock}: the disk's logical block is {logicalBlockSize} bytes "
            + $"({sectorsPerBlock} sectors of 512 bytes), and I/O must start and end on a block boundary.",
            target,
            $"Use -{parameter} {nearest}.");
    }

    /// <summary>A data length (bytes to write) not a multiple of the logical block size.</summary>
    public static ErrorRecord UnalignedLength(long length, int logicalBlockSize, object? target)
    {
        long below = length / logicalBlockSize * logicalBlockSize;
        long above = below + logicalBlockSize;
        return Create(UnalignedId, ErrorCategory.InvalidArgument,
            $"The data is {length} bytes, not a multiple of the disk's logical block size ({logicalBlockSize} bytes).",
            target,
            below == 0 ? $"Pad the data to {above} bytes." : $"Trim the data to {below} bytes or pad it to {above}.");
    }

    /// <summary>Nothing to transfer.</summary>
    public static ErrorRecord InvalidLength(string what, object? target)
        => Create(InvalidLengthId, ErrorCategory.InvalidArgument,
            $"{what}: there is nothing to transfer.",
            target,
            "Give at least one logical block: -Count is in 512-byte sectors (at least one block), and the data to "
            + "write must be a non-empty multiple of the logical block size.");

    /// <summary>Switches the kernel forbids together, refused before anything is submitted.</summary>
    public static ErrorRecord UnsupportedCombination(string combination, string reason, object? target, string action, Exception? exception = null)
        => Create(UnsupportedCombinationId, ErrorCategory.InvalidArgument,
            $"{combination} is not possible: {reason}",
            target,
            action,
            exception);

    /// <summary>-Poll on a disk without poll queues.</summary>
    public static ErrorRecord PollUnavailable(string disk, object? target, string parameter = "-Poll")
        => Create(PollUnavailableId, ErrorCategory.NotEnabled,
            $"'{disk}' has no poll queues (/sys/block/{disk}/queue/io_poll is 0), so polled I/O ({parameter}) would fail with EOPNOTSUPP.",
            target,
            $"Drop {parameter}, or for a virtio-blk disk boot with virtio_blk.poll_queues=N (N >= 1) on the kernel command "
            + "line (or 'options virtio_blk poll_queues=N' before the driver loads). Loop devices never poll.");

    /// <summary>io_uring switched off by sysctl.</summary>
    public static ErrorRecord IoUringDisabled(long setting, object? target, Exception? exception = null)
        => Create(IoUringDisabledId, ErrorCategory.NotEnabled,
            setting >= 2
                ? "io_uring is disabled on this machine (kernel.io_uring_disabled = 2)."
                : "io_uring is restricted on this machine (kernel.io_uring_disabled = 1): only root and members of "
                  + "kernel.io_uring_group may create rings.",
            target,
            "As root: 'sysctl kernel.io_uring_disabled=0' (or add this user to the group in kernel.io_uring_group).",
            exception);

    /// <summary>A passthrough command the device answered with VIRTIO_BLK_S_IOERR or _UNSUPP.</summary>
    public static ErrorRecord DeviceStatus(VirtioBlk.Core.Devices.VirtioBlkStatusException e, object? target)
    {
        bool unsupported = e.Status == VirtioBlk.Core.Abi.VirtioBlkStatus.Unsupported;
        string path = e.Path ?? target?.ToString() ?? "the device";
        return Create(DeviceStatusId, unsupported ? ErrorCategory.NotImplemented : IoCategory(e.Kind),
            e.Message,
            target ?? e.Path,
            unsupported
                ? $"The device behind {path} does not support this request type. Use -Mode Block, or a device/backend that implements it."
                : $"The device failed the request on {path}. Check 'dmesg' and the host side of the disk (image file, backend).",
            e);
    }

    /// <summary>The disk is read-only: writes are always refused, -Force or not.</summary>
    public static ErrorRecord ReadOnlyDisk(string disk, object? target)
        => Create(ReadOnlyId, ErrorCategory.PermissionDenied,
            $"'{disk}' is read-only (/sys/block/{disk}/ro is 1); writing to it is refused even with -Force.",
            target,
            "Write to a writable disk, or clear the flag with 'blockdev --setrw' if an admin set it (a device that "
            + "offers VIRTIO_BLK_F_RO stays read-only).");

    /// <summary>-SourcePath is not a regular file: a directory, or a device or FIFO with no fixed length.</summary>
    public static ErrorRecord SourceNotFile(string path, string what)
        => Create(SourceNotFileId, ErrorCategory.InvalidArgument,
            $"The source '{path}' is {what}, not a regular file.",
            path,
            "Give a regular file whose length is a multiple of the disk's logical block size, or pipe a byte[] in.");

    /// <summary>-SourcePath is missing or can't be read.</summary>
    public static ErrorRecord SourceUnreadable(string path, Exception e)
        => Create(SourceUnreadableId,
            e is FileNotFoundException or DirectoryNotFoundException ? ErrorCategory.ObjectNotFound : ErrorCategory.ReadError,
            $"Cannot read the source file '{path}': {e.Message}",
            path,
            "Give an existing, readable file whose length is a multiple of the disk's logical block size, or pipe a byte[] in.",
            e);

    // ---- Benchmark: verification and baselines (Invoke-/Compare-VirtioBlkBenchmark) ----

    public const string VerifyMismatchId = "VirtioBlkVerifyMismatch";
    public const string BenchmarkKnobsDifferId = "VirtioBlkBenchmarkKnobsDiffer";
    public const string NotABenchmarkResultId = "VirtioBlkNotABenchmarkResult";
    public const string BenchmarkReferenceNotFoundId = "VirtioBlkBenchmarkReferenceNotFound";

    /// <summary>A -Difference result with no -Reference result of the same host and device.</summary>
    public static ErrorRecord BenchmarkReferenceNotFound(string host, string device, object? target)
        => Create(BenchmarkReferenceNotFoundId, ErrorCategory.ObjectNotFound,
            $"No reference result is for {device} on {host}.", target,
            "Give -Reference the saved result of the same host and device (HostName, or PSComputerName over remoting), or a single result to compare every -Difference with.");

    /// <summary>A block read back that does not hold what was written (one record per reported block).</summary>
    public static ErrorRecord VerifyMismatch(string device, string description, object? target)
        => Create(VerifyMismatchId, ErrorCategory.InvalidData, $"Verification failed on {device}: {description}.", target,
            "The disk returned other data than was written there. Rerun the verify pass (-Operation Verify with the same -Seed and -Range) "
            + "to see whether it persists, and check the device and its backend; the result's MismatchDetails lists every reported block.");

    /// <summary>Compare-VirtioBlkBenchmark on two results whose knobs differ.</summary>
    public static ErrorRecord BenchmarkKnobsDiffer(string differences, object? target)
        => Create(BenchmarkKnobsDifferId, ErrorCategory.InvalidData,
            $"The two results were not measured with the same knobs ({differences}), so their figures do not compare.", target,
            "Compare results of runs with the same knobs, or add -Force to compare them anyway.");

    /// <summary>An input to Compare-VirtioBlkBenchmark that is no benchmark result.</summary>
    public static ErrorRecord NotABenchmarkResult(string parameter, string why, object? target)
        => Create(NotABenchmarkResultId, ErrorCategory.InvalidType, $"{parameter} is not a benchmark result: {why}.", target,
            $"Pass {parameter} an Invoke-VirtioBlkBenchmark result: as returned, from Import-Clixml, from ConvertFrom-Json, or received over remoting.");

    private static ErrorCategory IoCategory(IoOperationKind kind) => kind switch
    {
        IoOperationKind.Read => ErrorCategory.ReadError,
        IoOperationKind.Write => ErrorCategory.WriteError,
        _ => ErrorCategory.DeviceError,
    };
}
