using System;
using System.Linq;

namespace VirtioBlk.PowerShell.Devices;

/// <summary>The state of one passthrough prerequisite.</summary>
public enum PrerequisiteState
{
    /// <summary>Met.</summary>
    Passed,

    /// <summary>Not met; Reason and Remedy say why and what to do.</summary>
    Failed,

    /// <summary>Not checked, because an earlier prerequisite failed.</summary>
    Skipped,
}

/// <summary>What Test-VirtioBlkPassthrough concludes for one disk.</summary>
public enum PassthroughVerdict
{
    /// <summary>Passthrough works, polled passthrough too (-Poll).</summary>
    Ok,

    /// <summary>Passthrough works; -Poll does not (no poll queues, or the kernel lacks uring_cmd iopoll).</summary>
    OkWithoutPoll,

    /// <summary>Passthrough can't be used; the block device still works.</summary>
    Unavailable,
}

/// <summary>One prerequisite of passthrough on one disk.</summary>
public sealed class PassthroughPrerequisite
{
    internal PassthroughPrerequisite(string name, PrerequisiteState state, string detail, string? remedy = null)
    {
        Name = name;
        Outcome = state;
        Detail = detail;
        Remedy = remedy;
    }

    /// <summary>IoUring, CharDevice, Sqe128Ring, PassthroughRead or PollQueues.</summary>
    public string Name { get; }

    /// <summary>Passed, Failed or Skipped: a name, so JSON and CSV exports carry the word, not a number.</summary>
    public string State => Outcome.ToString();

    internal PrerequisiteState Outcome { get; }

    /// <summary>What was found; for a failure, the reason.</summary>
    public string Detail { get; }

    /// <summary>What to do when it failed.</summary>
    public string? Remedy { get; }

    public override string ToString() => State;
}

/// <summary>Test-VirtioBlkPassthrough's answer for one disk.</summary>
public sealed class VirtioBlkPassthroughReport
{
    internal VirtioBlkPassthroughReport(string disk, string path, string? charDevicePath, PassthroughPrerequisite[] checks,
        PassthroughPrerequisite[] commands, bool? rootRequired)
    {
        Disk = disk;
        Path = path;
        CharDevicePath = charDevicePath;
        Checks = checks;
        Commands = commands;
        RootRequired = rootRequired;
    }

    /// <summary>
    /// Which commands the kernel takes on this disk: IN, OUT (never probed: it would write), FLUSH, GET_ID, IN (polled);
    /// Passed is accepted, Failed refused (the Detail says how). Empty when passthrough reads do not work at all.
    /// </summary>
    public PassthroughPrerequisite[] Commands { get; }

    /// <summary>Whether passthrough commands need CAP_SYS_ADMIN here (true on the posted series and this project's kernel); null when unknown.</summary>
    public bool? RootRequired { get; }

    /// <summary>Kernel name of the disk.</summary>
    public string Disk { get; }

    /// <summary>The block device.</summary>
    public string Path { get; }

    /// <summary>The passthrough char device, when present.</summary>
    public string? CharDevicePath { get; }

    /// <summary>Every prerequisite in the order checked.</summary>
    public PassthroughPrerequisite[] Checks { get; }

    /// <summary>kernel.io_uring_disabled allows this process a ring.</summary>
    public PassthroughPrerequisite IoUring => Get(nameof(IoUring));

    /// <summary>/dev/vdXc0 exists (class vblk-generic).</summary>
    public PassthroughPrerequisite CharDevice => Get(nameof(CharDevice));

    /// <summary>A ring with 128-byte SQEs (IORING_SETUP_SQE128) can be made.</summary>
    public PassthroughPrerequisite Sqe128Ring => Get(nameof(Sqe128Ring));

    /// <summary>A one-block passthrough read is accepted (needs CAP_SYS_ADMIN).</summary>
    public PassthroughPrerequisite PassthroughRead => Get(nameof(PassthroughRead));

    /// <summary>Poll queues exist and a polled one-block passthrough read is accepted (for -Poll).</summary>
    public PassthroughPrerequisite PollQueues => Get(nameof(PollQueues));

    /// <summary>Passthrough can be used on this disk.</summary>
    public bool PassthroughUsable => Checks.Where(c => c.Name != nameof(PollQueues)).All(c => c.Outcome == PrerequisiteState.Passed);

    /// <summary>Polled passthrough (-Mode Passthrough -Poll) can be used.</summary>
    public bool PollUsable => PassthroughUsable && PollQueues.Outcome == PrerequisiteState.Passed;

    /// <summary>The summary for scripts: Ok, OkWithoutPoll or Unavailable (a name, also in JSON and CSV).</summary>
    public string Verdict => VerdictKind.ToString();

    internal PassthroughVerdict VerdictKind => PollUsable ? PassthroughVerdict.Ok
        : PassthroughUsable ? PassthroughVerdict.OkWithoutPoll
        : PassthroughVerdict.Unavailable;

    /// <summary>The first failure's reason (null when everything passed).</summary>
    public string? Reason => Checks.FirstOrDefault(c => c.Outcome == PrerequisiteState.Failed)?.Detail;

    /// <summary>The first failure's remedy.</summary>
    public string? Remedy => Checks.FirstOrDefault(c => c.Outcome == PrerequisiteState.Failed)?.Remedy;

    private PassthroughPrerequisite Get(string name) => Checks.First(c => c.Name == name);
}
