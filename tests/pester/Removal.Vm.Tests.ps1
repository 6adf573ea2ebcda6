#Requires -Version 7.4
# Issue 12 section 2, a disk removed mid-I/O, through the module's cmdlets: QMP device_del of vbmq while a QD32
# benchmark (both paths, polled and not) or a 64 MiB read runs on it, then device_add (tests/vm/README.md has the
# disk table and the QMP requests). The C witness (tests/vm/guest-removal.sh) shows the same at the syscall level;
# Faults.Vm.Tests.ps1 has the rest of the section. On a host without the guest's disks and QMP every test skips.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    $Manifest = Join-Path $RepoRoot 'VirtioBlk.psd1'
    Import-Module $Manifest -Force -ErrorAction Stop
    . "$PSScriptRoot/VmDisks.ps1"   # disks by serial, QMP, and the capture/fd helpers both fault files use
}

Describe 'A disk removed mid-I/O (vbmq, QMP device_del)' -Tags 'VM' {
    BeforeAll {
        # 10 s is the contract; the debug kernel's boot (KASAN, lockdep under TCG) sets a wider bound for the log.
        $Bound = [math]::Max(10, [double]($env:VBK_REMOVAL_BOUND_S ?? 10))

        # The cmdlets run in one pwsh process of their own, started once (pwsh's start under TCG takes a minute or
        # two): run in a runspace of this process the cmdlet starved this test's thread until it had finished, so
        # device_del always came too late. The child takes one request file at a time, stamps when the cmdlet
        # started and the moment it returned (pwsh's own exit is not the cmdlet's), and reports its output, its
        # error records and its open fds (after the cmdlet: the fds a removal must not leave) as JSON.
        $Exchange = Join-Path ([IO.Path]::GetTempPath()) "vbk-removal-$PID"
        New-Item -ItemType Directory -Force $Exchange | Out-Null
        $childScript = Join-Path $Exchange 'child.ps1'
        Set-Content $childScript @'
param([string] $Manifest, [string] $Exchange)
Import-Module $Manifest -ErrorAction Stop
$ProgressPreference = 'SilentlyContinue'
Set-Content "$Exchange/ready" ''
for ($n = 1; ; $n++) {
    while (-not (Test-Path "$Exchange/request-$n.json") -and -not (Test-Path "$Exchange/quit")) { Start-Sleep -Milliseconds 50 }
    if (-not (Test-Path "$Exchange/request-$n.json")) { break }
    $q = Get-Content -Raw "$Exchange/request-$n.json" | ConvertFrom-Json
    Set-Content "$Exchange/started-$n" ''
    $errs = $null
    $result = if ($q.Bench) {
        Invoke-VirtioBlkBenchmark $q.DiskPath -Mode $q.Mode -Poll:$q.Poll -QueueDepth 32 -SubmitBatch 8 -CompleteBatch 8 -Seconds 60 -NoLatency -ErrorAction SilentlyContinue -ErrorVariable errs
    } else {
        Read-VirtioBlkSector $q.DiskPath -Sector 0 -Count 131072 -Mode $q.Mode -Poll:$q.Poll -Raw -ErrorAction SilentlyContinue -ErrorVariable errs
    }
    $returned = [DateTime]::UtcNow
    $fds = @(foreach ($f in Get-ChildItem /proc/self/fd -ErrorAction Ignore) { $t = try { $f.LinkTarget } catch { $null }; if ($t) { "$($f.Name) -> $t" } })
    [pscustomobject]@{
        Returned = $returned.ToString('o')
        Output = @($result | ForEach-Object { if ($_ -is [byte[]]) { "$($_.Length) bytes" } else { "$($_.TotalIos) I/Os, $($_.Errors) errors ($($_.FirstError)) in $($_.RunSeconds) s" } })
        Errors = @($errs | ForEach-Object { [pscustomobject]@{ Id = $_.FullyQualifiedErrorId; Message = $_.Exception.Message } })
        Fds = $fds
    } | ConvertTo-Json -Depth 4 | Set-Content "$Exchange/report-$n.tmp"
    Move-Item "$Exchange/report-$n.tmp" "$Exchange/report-$n.json"
}
'@
        $Child = $null
        $Requests = 0
        if (Test-VbkQmp) {
            $Child = Start-Process pwsh -ArgumentList @('-NoProfile', '-File', $childScript, '-Manifest', $Manifest, '-Exchange', $Exchange) -PassThru
            $readyBy = [DateTime]::UtcNow.AddSeconds(300)
            while (-not (Test-Path "$Exchange/ready") -and -not $Child.HasExited -and [DateTime]::UtcNow -lt $readyBy) { Start-Sleep -Milliseconds 100 }
        }
    }

    AfterAll {
        if ($Child) {
            Set-Content "$Exchange/quit" ''
            if (-not $Child.WaitForExit(60000)) { $Child.Kill() }
        }
        Remove-Item -Recurse -Force $Exchange -ErrorAction Ignore
    }

    AfterEach {
        # Whatever happened, the matrix is whole again for the tests after this one.
        if ((Test-VbkQmp) -and -not (Get-VbkGuestDisk vbmq)) {
            try { Invoke-VbkQmp 'device_add vbmq' | Out-Null } catch { Write-Warning "device_add vbmq: $_" }
            Wait-VbkGuestDisk vbmq -TimeoutSeconds 30 | Out-Null
        }
    }

    It '<What> on <Mode> (Poll=<Poll>) ends within the bound with an ErrorRecord saying the disk went away, and leaves no fd or ring' -TestCases @(
        foreach ($m in 'Passthrough', 'Block') { foreach ($p in $false, $true) { @{ What = 'a QD32 benchmark'; Mode = $m; Poll = $p } } }
        foreach ($m in 'Passthrough', 'Block') { @{ What = 'a 64 MiB read'; Mode = $m; Poll = $false } }
        @{ What = 'a 64 MiB read'; Mode = 'Passthrough'; Poll = $true }
    ) {
        $testClock = [Diagnostics.Stopwatch]::StartNew()
        $disk = Get-FaultDisk vbmq -Qmp
        if (-not $disk) { return }
        Test-Path "$Exchange/ready" | Should -BeTrue -Because 'the child pwsh that runs the cmdlets must have started'
        $Child.HasExited | Should -BeFalse -Because 'the child pwsh that runs the cmdlets must still run'
        $nodes = @($disk.Path, $disk.CharDevicePath)
        $bench = $What -like '*benchmark*'
        if (-not $bench) {
            # A 64 MiB read takes well under a second here: QEMU throttles this disk's reads to 8 MiB/s so that
            # device_del arrives while it runs. The throttle goes with the device.
            Invoke-VbkQmp ('{"execute":"block_set_io_throttle","arguments":{"id":"/machine/peripheral/vbmq/virtio-backend","bps":0,"bps_rd":8388608,"bps_wr":0,"iops":0,"iops_rd":0,"iops_wr":0}}') | Out-Null
        }

        $n = ++$script:Requests
        @{ DiskPath = $disk.Path; Mode = $Mode; Poll = $Poll; Bench = $bench } | ConvertTo-Json | Set-Content "$Exchange/request-$n.tmp"
        Move-Item "$Exchange/request-$n.tmp" "$Exchange/request-$n.json"
        $startBy = [DateTime]::UtcNow.AddSeconds(60)
        while (-not (Test-Path "$Exchange/started-$n") -and [DateTime]::UtcNow -lt $startBy) { Start-Sleep -Milliseconds 50 }
        Test-Path "$Exchange/started-$n" | Should -BeTrue -Because 'the child takes the request'
        # The I/O is given time to run (QMP round trips under the load take a minute under TCG, so QEMU's counters
        # cannot tell): 5 s for the benchmark to be at full depth, 2 s for the read, which takes 8 s at the throttled rate.
        Start-Sleep -Seconds ($bench ? 5 : 2)
        Test-Path "$Exchange/report-$n.json" | Should -BeFalse -Because 'the I/O must still run when the disk is removed'

        Write-Host "    # $What on $Mode (Poll=$Poll): $([math]::Round($testClock.Elapsed.TotalSeconds, 1)) s into the test, device_del"
        $sentAt = [DateTime]::UtcNow
        Invoke-VbkQmp 'device_del vbmq' | Out-Null
        $answeredAt = [DateTime]::UtcNow
        $reportBy = $answeredAt.AddSeconds($Bound + 60)
        while (-not (Test-Path "$Exchange/report-$n.json") -and [DateTime]::UtcNow -lt $reportBy) { Start-Sleep -Milliseconds 100 }
        Test-Path "$Exchange/report-$n.json" | Should -BeTrue -Because "the cmdlet must not hang (no report $([math]::Round(([DateTime]::UtcNow - $answeredAt).TotalSeconds, 1)) s after device_del answered)"
        $report = Get-Content -Raw "$Exchange/report-$n.json" | ConvertFrom-Json
        $returnedAt = ([DateTimeOffset]::Parse($report.Returned)).UtcDateTime
        $sinceSent = ($returnedAt - $sentAt).TotalSeconds
        $sinceAnswered = ($returnedAt - $answeredAt).TotalSeconds
        Write-Host ("    # $What on $Mode (Poll=$Poll): device_del answered after {0:N1} s; the cmdlet returned {1:N1} s after device_del was sent ({2:N1} s after its answer)" -f ($answeredAt - $sentAt).TotalSeconds, $sinceSent, $sinceAnswered)

        # What the cmdlet said comes first: it is what the admin sees.
        @($report.Output) | Should -BeNullOrEmpty -Because "an interrupted run is no result ($($report.Output))"
        $errors = @($report.Errors)
        $said = ($errors | ForEach-Object { "$($_.Id): $($_.Message)" }) -join '; '
        $errors.Count | Should -Be 1 -Because $said
        $errors[0].Id | Should -BeLike 'VirtioBlkDiskRemoved,*' -Because $said
        $errors[0].Message | Should -BeLike "*$($disk.Name)*went away*"
        # The disk is gone once device_del answers (QEMU's DEVICE_DELETED: the guest let it go); under TCG and load
        # the guest's hot-unplug itself took 11 s, so the bound is counted from there, as the C witness does.
        $sinceAnswered | Should -BeLessOrEqual $Bound -Because "the cmdlet ends within the bound of the disk going away (it returned $sinceSent s after device_del was sent, $sinceAnswered s after its answer)"
        # No fd of the disk and no ring is left once the cmdlet has ended.
        @($report.Fds | Where-Object { $t = $_; $nodes | Where-Object { $t -like "* -> $_*" } }) | Should -BeNullOrEmpty
        @($report.Fds | Where-Object { $_ -like '*io_uring*' }) | Should -BeNullOrEmpty

        Write-Host "    # $([math]::Round($testClock.Elapsed.TotalSeconds, 1)) s into the test: device_add"
        Get-VirtioBlkDevice | Where-Object Serial -EQ 'vbmq' | Should -BeNullOrEmpty
        Test-Path $disk.CharDevicePath | Should -BeFalse

        # Back after device_add: both paths work again.
        Invoke-VbkQmp 'device_add vbmq' | Out-Null
        Wait-VbkGuestDisk vbmq -TimeoutSeconds 30 | Should -BeTrue
        $back = Get-VirtioBlkDevice | Where-Object Serial -EQ 'vbmq'
        $back | Should -Not -BeNullOrEmpty
        (Read-VirtioBlkSector $back.Path -Sector 0 -Count 64 -Mode $Mode -Poll:$Poll -ErrorAction Stop).Length | Should -Be 32KB
        $again = Invoke-VirtioBlkBenchmark $back.Path -Mode $Mode -Poll:$Poll -QueueDepth 32 -IoCount 500 -NoLatency -ErrorAction Stop
        $again.Errors | Should -Be 0
    }
}
