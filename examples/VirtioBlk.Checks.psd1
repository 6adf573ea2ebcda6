# Thresholds for examples/VirtioBlk.Checks.Tests.ps1: what "healthy" means for the virtio disks of one kind of VM.
# Copy it per fleet or per VM class. Every key is optional; the suite's defaults are the values shown here.
@{
    # The VirtioBlk module to import on the machine under test: a name on $env:PSModulePath, or a manifest path.
    ModulePath          = 'VirtioBlk'

    # Disks to check (wildcards on the kernel name) and disks to leave alone.
    Disks               = @('vd*')
    ExcludeDisks        = @()

    # At least this many virtio-blk disks must be present (0: a VM without any passes).
    MinimumDisks        = 1

    # Every checked disk has at least this many poll queues (boot with virtio_blk.poll_queues=N); 0 skips the check.
    MinimumPollQueues   = 1

    # Passthrough (/dev/vdXc0 and a passthrough read) must work on every checked disk; with $false it is not checked.
    ExpectPassthrough   = $true
    # With ExpectPassthrough: polled passthrough must work too (Test-VirtioBlkPassthrough says Ok, not OkWithoutPoll).
    ExpectPolledPassthrough = $true

    # Disks allowed to be read-only (kernel names); every other checked disk must be writable.
    AllowReadOnly       = @()

    # The latency probe: a read-only benchmark per disk; its p99 total latency must stay under the threshold (0 skips it).
    MaxP99ReadLatencyUs = 5000
    Probe               = @{
        Mode       = 'Block'     # Block or Passthrough
        QueueDepth = 1
        BlockSize  = 4096
        Seconds    = 2
    }

    # The baseline check: saved results of earlier probes (Export-Clixml, or ConvertTo-Json -Depth 4 output) of this
    # VM or of a fleet; each disk's probe is held against the saved result of the same host and device with
    # Compare-VirtioBlkBenchmark, with the baseline's own knobs. Empty skips it.
    BaselinePath        = ''
    # How much worse a figure may get, in percent, and which figures must not regress.
    BaselineThresholdPercent = 10
    BaselineFigures     = @('Iops', 'LatP99Us', 'Errors', 'Mismatches')
}
