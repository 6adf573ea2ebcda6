using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Management.Automation;
using VirtioBlk.Core;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Uring;
using VirtioBlk.PowerShell.Completion;
using VirtioBlk.PowerShell.Devices;

namespace VirtioBlk.PowerShell;

/// <summary>
/// Test-VirtioBlkPassthrough: per virtio-blk disk, whether io_uring passthrough (and polled passthrough) can be
/// used, each prerequisite with its state and, when it fails, the reason and the remedy. Reads one block; writes nothing.
/// </summary>
/// <example>Test-VirtioBlkPassthrough</example>
/// <example>(Test-VirtioBlkPassthrough /dev/vdb).Verdict -eq 'Ok'</example>
/// <example>Test-VirtioBlkPassthrough vdb | Select-Object -ExpandProperty Checks | Format-List</example>
[Cmdlet(VerbsDiagnostic.Test, "VirtioBlkPassthrough")]
[OutputType(typeof(VirtioBlkPassthroughReport))]
public sealed class TestVirtioBlkPassthroughCommand : PSCmdlet
{
    private const string KernelReadme = "kernel/README.md in the VirtioBlk repository";

    /// <summary>Disks to test: /dev/vdb, /dev/vdbc0 or vdb; binds the Path property of piped objects. All virtio-blk disks when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("DevicePath")]
    [ArgumentCompleter(typeof(VirtioBlkDevicePathCompleter))]
    public string[]? Path { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<DevicePaths.Item> items = Path is null
            ? VirtioBlkDiscovery.EnumerateDiskNames().Select(d => new DevicePaths.Item(d, d))
            : DevicePaths.Resolve(this, Path, literal: false);
        foreach (DevicePaths.Item item in items)
        {
            string path = item.Requested;
            DiskIdentity target;
            try
            {
                target = DiskIdentity.Resolve(item.Resolved) with { Requested = path };
            }
            catch (Exception e) when (ErrorRecords.IsReportable(e))
            {
                WriteError(ErrorRecords.FromException(e, path));
                continue;
            }

            if (!target.IsVirtio)
            {
                WriteError(ErrorRecords.PassthroughNeedsVirtio(path, target.Disk, target.Driver));
                continue;
            }

            VirtioBlkPassthroughReport report = Test(target);
            foreach (PassthroughPrerequisite check in report.Checks)
            {
                WriteVerbose($"{target.Disk} {check.Name}: {check.State}. {check.Detail}");
            }

            WriteObject(report);
        }
    }

    private static VirtioBlkPassthroughReport Test(DiskIdentity t)
    {
        var checks = new List<PassthroughPrerequisite>();
        PassthroughPrerequisite ioUring = CheckIoUring();
        PassthroughPrerequisite charDevice = CheckCharDevice(t);
        PassthroughPrerequisite sqe128 = ioUring.Outcome == PrerequisiteState.Passed
            ? CheckSqe128Ring()
            : Skip("Sqe128Ring", "io_uring is not available");
        PassthroughPrerequisite read = (charDevice.Outcome, sqe128.Outcome) switch
        {
            (PrerequisiteState.Passed, PrerequisiteState.Passed) => CheckRead(t, poll: false),
            (PrerequisiteState.Passed, _) => Skip("PassthroughRead", "no 128-byte-SQE ring"),
            _ => Skip("PassthroughRead", "no char device"),
        };
        PassthroughPrerequisite poll = CheckPoll(t, read.Outcome == PrerequisiteState.Passed);
        checks.AddRange(new[] { ioUring, charDevice, sqe128, read, poll });
        bool reads = read.Outcome == PrerequisiteState.Passed;
        PassthroughPrerequisite[] commands = reads
            ? new[]
            {
                Command("IN", read.Outcome, read.Detail),
                new PassthroughPrerequisite("OUT", PrerequisiteState.Skipped, t.Geometry.ReadOnly
                    ? $"Not tried: {t.Disk} is read-only, so every write is refused before submission."
                    : "Not tried: a probe would write. Every kernel known to carry passthrough (the posted series, this project's patch, the OpenAnolis variant) takes OUT where it takes IN."),
                FromProbe(PassthroughProbe.Flush(t.CharDevicePath!)),
                FromProbe(PassthroughProbe.GetId(t.CharDevicePath!)),
                Command("IN (polled)", poll.Outcome, poll.Detail),
            }
            : Array.Empty<PassthroughPrerequisite>();
        bool? needsRoot = reads
            ? PassthroughProbe.NeedsSysAdmin(t.CharDevicePath!, t.Geometry.LogicalBlockSize) ?? (ProcessCapabilities.HasSysAdmin() ? null : false)
            : read.Detail.Contains("CAP_SYS_ADMIN", StringComparison.Ordinal) ? true : null;
        return new VirtioBlkPassthroughReport(t.Disk, t.BlockPath, t.CharDevicePath, checks.ToArray(), commands, needsRoot);
    }

    private static PassthroughPrerequisite Command(string name, PrerequisiteState state, string detail) => new(name, state, detail);

    private static PassthroughPrerequisite FromProbe(CommandProbe p) => new(p.Command, p.Answer switch
    {
        CommandAnswer.Accepted => PrerequisiteState.Passed,
        CommandAnswer.Refused => PrerequisiteState.Failed,
        _ => PrerequisiteState.Skipped,
    }, p.Detail);

    private static PassthroughPrerequisite Skip(string name, string why) => new(name, PrerequisiteState.Skipped, $"Not checked: {why}.");

    private static PassthroughPrerequisite CheckIoUring()
    {
        long? setting = Sysfs.TryReadInt64(Sysfs.IoUringDisabledSysctl);
        string sysctl = setting is null ? "no kernel.io_uring_disabled sysctl" : $"kernel.io_uring_disabled = {setting}";
        try
        {
            using var ring = new IoUring(new IoUringOptions { Entries = 1 });
            return new PassthroughPrerequisite("IoUring", PrerequisiteState.Passed, $"{sysctl}; this process can create a ring.");
        }
        catch (IoUringException e)
        {
            return Failed("IoUring", e, $"{sysctl}; ");
        }
    }

    private static PassthroughPrerequisite CheckCharDevice(DiskIdentity t)
    {
        string name = t.Disk + "c0";
        if (t.CharDevicePath is not null)
        {
            string dev = Sysfs.TryReadText($"{Sysfs.PassthroughClassRoot}/{name}/dev")?.Trim() ?? "?";
            return new PassthroughPrerequisite("CharDevice", PrerequisiteState.Passed, $"{t.CharDevicePath} (class vblk-generic, device {dev}).");
        }

        if (Directory.Exists($"{Sysfs.PassthroughClassRoot}/{name}"))
        {
            string dev = Sysfs.TryReadText($"{Sysfs.PassthroughClassRoot}/{name}/dev")?.Trim() ?? "MAJOR:MINOR";
            return new PassthroughPrerequisite("CharDevice", PrerequisiteState.Failed,
                $"The kernel has {name} (class vblk-generic) but /dev/{name} is missing.",
                $"Let udev create it ('udevadm trigger'), or as root: mknod /dev/{name} c {dev.Replace(':', ' ')}.");
        }

        string release = Sysfs.TryReadText(Sysfs.OsRelease)?.Trim() ?? "this kernel";
        return new PassthroughPrerequisite("CharDevice", PrerequisiteState.Failed,
            $"No /dev/{name}: the running kernel ({release}) lacks the virtio-blk io_uring passthrough series (no class vblk-generic entry).",
            $"Boot a kernel with the passthrough patches ({KernelReadme} says how). Meanwhile use -Mode Block; -Mode Auto falls back by itself.");
    }

    private static PassthroughPrerequisite CheckSqe128Ring()
    {
        try
        {
            using var ring = new IoUring(new IoUringOptions { Entries = 2, Flags = IoUringSetupFlags.Sqe128 });
            return new PassthroughPrerequisite("Sqe128Ring", PrerequisiteState.Passed, $"A ring with {ring.SqeSize}-byte SQEs was created.");
        }
        catch (IoUringException e)
        {
            return Failed("Sqe128Ring", e);
        }
    }

    private static PassthroughPrerequisite CheckRead(DiskIdentity t, bool poll)
    {
        string name = poll ? "PollQueues" : "PassthroughRead";
        int lbs = t.Geometry.LogicalBlockSize;
        try
        {
            var data = new byte[lbs];
            using SectorIoSession session = SectorIoSession.Open(t.CharDevicePath!, new SectorIoOptions
            {
                Path = IoPathKind.Passthrough, Poll = poll, QueueDepth = 1, MaxIoBytes = lbs,
            });
            var clock = Stopwatch.StartNew();
            session.Read(0, data);
            double micros = clock.Elapsed.TotalMilliseconds * 1000;
            return new PassthroughPrerequisite(name, PrerequisiteState.Passed,
                $"{(poll ? "A polled" : "A")} one-block read ({lbs} bytes at sector 0) through {t.CharDevicePath} completed in {micros:0.0} us.");
        }
        catch (Exception e) when (ErrorRecords.IsReportable(e))
        {
            return Failed(name, e);
        }
    }

    /// <summary>A failed check, its reason and remedy taken from the module's one error mapping.</summary>
    private static PassthroughPrerequisite Failed(string name, Exception e, string prefix = "")
    {
        ErrorRecord record = ErrorRecords.FromException(e, null);
        return new PassthroughPrerequisite(name, PrerequisiteState.Failed, prefix + record.ErrorDetails.Message,
            record.ErrorDetails.RecommendedAction);
    }

    private static PassthroughPrerequisite CheckPoll(DiskIdentity t, bool passthroughWorks)
    {
        if (!t.Geometry.IoPoll)
        {
            long parameter = Sysfs.TryReadInt64($"{Sysfs.VirtioBlkModuleParameters}/poll_queues") ?? 0;
            return new PassthroughPrerequisite("PollQueues", PrerequisiteState.Failed,
                $"{t.Disk} has no poll queues (queue/io_poll = 0; virtio_blk poll_queues = {parameter}), so -Poll can't be used.",
                "Boot with virtio_blk.poll_queues=N (N >= 1) on the kernel command line; the disk needs a queue to spare (num-queues >= 2 in QEMU).");
        }

        return passthroughWorks
            ? CheckRead(t, poll: true)
            : Skip("PollQueues", $"{t.Disk} has poll queues (queue/io_poll = 1), but passthrough itself does not work");
    }
}
