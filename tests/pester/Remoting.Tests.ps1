#Requires -Version 7.4
# Fleets: the module's objects survive PowerShell remoting. An sshd of its own on 127.0.0.1 (a free port, its own
# host key, key authentication for root with a throwaway key, pwsh as the "powershell" subsystem) stands in for a
# VM; Invoke-Command -HostName runs the cmdlets there, and the deserialized objects must keep their properties (the
# benchmark's nested latencies, histogram and per-second samples included) and format with the same views.
# Needs root (sshd as root, loop devices) and openssh-server, which build.ps1 -Task Test installs; skips otherwise.

BeforeDiscovery {
    $script:IsRoot = (id -u) -eq '0'
}

Describe 'Remoting over SSH' -Tags CI -Skip:(-not $IsRoot) {
    BeforeAll {
        $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
        $ModuleManifest = Join-Path $RepoRoot 'VirtioBlk.psd1'
        Import-Module $ModuleManifest -Force -ErrorAction Stop
        $Sshd = '/usr/sbin/sshd'
        $SkipReason = $null
        # build.ps1 -Task Test installs openssh-server up front (waiting for the dpkg lock); a test that installed it
        # here raced other apt runs and skipped when one held the lock.
        if (-not (Test-Path $Sshd)) { $SkipReason = 'no sshd: install openssh-server (build.ps1 -Task Test does, before the tests run)' }
        if (-not (Get-Command ssh -ErrorAction Ignore)) { $SkipReason = 'no ssh client (openssh-client)' }

        $Dir = Join-Path ([System.IO.Path]::GetTempPath()) "vblk-sshd-$([guid]::NewGuid().ToString('N'))"
        New-Item -ItemType Directory $Dir | Out-Null
        $Key = Join-Path $Dir 'client_ed25519'
        $Sshd_Process = $null
        if (-not $SkipReason) {
            & ssh-keygen -q -t ed25519 -N '' -f (Join-Path $Dir 'host_ed25519') | Out-Null
            & ssh-keygen -q -t ed25519 -N '' -f $Key | Out-Null
            Copy-Item "$Key.pub" (Join-Path $Dir 'authorized_keys')
            # sshd wants its privilege-separation directory.
            New-Item -ItemType Directory -Force /run/sshd | Out-Null
            $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $listener.Start(); $Port = $listener.LocalEndpoint.Port; $listener.Stop()
            # pwsh here may be a .NET tool whose apphost finds the runtime through DOTNET_ROOT; sshd passes a
            # minimal environment, so name it.
            $dotnetRoot = if ($env:DOTNET_ROOT) { $env:DOTNET_ROOT } else { Split-Path -Parent (Get-Item (Get-Command dotnet).Source).ResolvedTarget }
            @"
Port $Port
ListenAddress 127.0.0.1
HostKey $Dir/host_ed25519
PidFile $Dir/sshd.pid
AuthorizedKeysFile $Dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
SetEnv DOTNET_ROOT=$dotnetRoot NO_COLOR=1
Subsystem powershell $PSHOME/pwsh -sshs -NoLogo -NoProfile
"@ | Set-Content (Join-Path $Dir 'sshd_config')
            $Sshd_Process = Start-Process $Sshd -ArgumentList '-D', '-e', '-f', (Join-Path $Dir 'sshd_config') -PassThru `
                -RedirectStandardError (Join-Path $Dir 'sshd.log') -RedirectStandardOutput (Join-Path $Dir 'sshd.out')
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while ([DateTime]::UtcNow -lt $deadline) {
                try { $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port); $c.Dispose(); break } catch { Start-Sleep -Milliseconds 100 }
            }
        }
        $Remote = @{
            HostName = '127.0.0.1'; Port = $Port; UserName = 'root'; KeyFilePath = $Key
            Options = @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = '/dev/null'; LogLevel = 'ERROR' }
        }
        # A remote object's table is the local one plus the PSComputerName column PowerShell adds at the right.
        function Assert-SameTable($Remote, $Local) {
            $r = @(($Remote | Format-Table | Out-String -Width 300) -split "`n")
            $l = @(($Local | Format-Table | Out-String -Width 300) -split "`n")
            $r.Count | Should -Be $l.Count
            $r[1] | Should -Match 'PSComputerName'
            # The leading columns are the same text; the last one may be cut shorter to make room.
            for ($i = 0; $i -lt $l.Count; $i++) {
                $n = [Math]::Min(40, $l[$i].TrimEnd().Length)
                $r[$i].Substring(0, [Math]::Min($n, $r[$i].Length)) | Should -Be $l[$i].Substring(0, $n) -Because "line $i of the table"
            }
            $r[3] | Should -Match '127\.0\.0\.1\s*$'
        }
        function Skip-IfNoSshd { if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason; return $true }; $false }

        # A loop device over a tmpfs file: something to benchmark that every machine has.
        $LoopFile = "/dev/shm/vblk-remote-$([guid]::NewGuid().ToString('N')).img"
        & truncate -s 32M $LoopFile
        $Loop = (& losetup --find --show $LoopFile).Trim()
    }
    AfterAll {
        if ($Sshd_Process) { Stop-Process -Id $Sshd_Process.Id -ErrorAction Ignore; $Sshd_Process.WaitForExit(5000) | Out-Null }
        if ($Loop) { & losetup -d $Loop 2>$null }
        Remove-Item $LoopFile -ErrorAction Ignore
        Remove-Item -Recurse -Force $Dir -ErrorAction Ignore
    }

    It 'Get-VirtioBlkDevice: the deserialized devices keep their properties and their views' {
        if (Skip-IfNoSshd) { return }
        $local = @(Get-VirtioBlkDevice)
        if (-not $local) { Set-ItResult -Skipped -Because 'no virtio-blk disk on this machine'; return }
        $remote = @(Invoke-Command @Remote -ScriptBlock { Import-Module $using:ModuleManifest; Get-VirtioBlkDevice } -ErrorAction Stop)
        $remote.Count | Should -Be $local.Count
        $remote[0].pstypenames | Should -Contain 'Deserialized.VirtioBlk.Core.Devices.VirtioBlkDevice'
        $remote[0].PSComputerName | Should -Be '127.0.0.1'
        foreach ($p in 'Name', 'Path', 'SizeBytes', 'LogicalBlockSize', 'QueueCount', 'PollQueues', 'PassthroughAvailable', 'ReadOnly', 'Serial', 'SizeHuman') {
            $remote[0].$p | Should -Be $local[0].$p -Because "$p crosses the wire"
        }
        @($remote[0].Features) | Should -Be @($local[0].Features)
        @($remote[0].MountPoints) | Should -Be @($local[0].MountPoints)
        Assert-SameTable $remote $local
        ($remote | Format-List | Out-String) | Should -Match 'MaxTransfer\s+: .+ \(hardware .+\)'
    }

    It 'Invoke-VirtioBlkBenchmark: nested latencies, histogram and per-second samples survive, and the views format them' {
        if (Skip-IfNoSshd) { return }
        $r = Invoke-Command @Remote -ScriptBlock {
            Import-Module $using:ModuleManifest
            Invoke-VirtioBlkBenchmark -Path $using:Loop -QueueDepth 4 -SubmitBatch 2 -CompleteBatch 2 -Seconds 2.2
        } -ErrorAction Stop
        $r.pstypenames | Should -Contain 'Deserialized.VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkResult'
        $r.Errors | Should -Be 0
        $r.TotalIos | Should -BeGreaterThan 0
        $r.TotalLatency.P99Us | Should -BeGreaterThan 0
        $r.TotalLatency.P50Us | Should -BeLessOrEqual $r.TotalLatency.P99Us
        $r.SubmitLatency.Count | Should -Be $r.TotalIos
        $r.P99Us | Should -Be $r.TotalLatency.P99Us
        @($r.IopsPerSecond).Count | Should -BeIn 3, 4   # two whole seconds and the partial last one (issue 11)
        ($r.IopsPerSecond | Measure-Object -Sum).Sum | Should -Be $r.TotalIos
        ($r.LatencyHistogram | Measure-Object Count -Sum).Sum | Should -Be $r.TotalIos
        @($r.GetIopsSamples()).Count | Should -Be @($r.IopsPerSecond).Count
        ($r | Format-Table | Out-String) | Should -Match ('loop\d+\s+block\s+read\s+4K\s+4')
        ($r | Format-List | Out-String) | Should -Match 'lat percentiles\s*:\s*50.00th=\[[\d.]+\]'
        ($r | Format-Custom -View Chart | Out-String) | Should -Match 'latency distribution'
    }

    It 'Test-VirtioBlkPassthrough: the report keeps its prerequisites' {
        if (Skip-IfNoSshd) { return }
        $local = @(Test-VirtioBlkPassthrough -ErrorAction SilentlyContinue)
        if (-not $local) { Set-ItResult -Skipped -Because 'no virtio-blk disk on this machine'; return }
        $remote = @(Invoke-Command @Remote -ScriptBlock { Import-Module $using:ModuleManifest; Test-VirtioBlkPassthrough -ErrorAction SilentlyContinue })
        $remote[0].Verdict.ToString() | Should -Be $local[0].Verdict.ToString()
        @($remote[0].Checks).Count | Should -Be 5
        $remote[0].Checks[0].Name | Should -Be 'IoUring'
        "$($remote[0].CharDevice.State)" | Should -Be "$($local[0].CharDevice.State)"
        Assert-SameTable $remote $local
    }

    It 'fans out with -ThrottleLimit over several sessions and aggregates with Group-Object and Measure-Object' {
        if (Skip-IfNoSshd) { return }
        # Three "VMs": the same loopback host three times, as three connections.
        $sessions = 1..3 | ForEach-Object { New-PSSession @Remote -ErrorAction Stop }
        try {
            $all = Invoke-Command -Session $sessions -ThrottleLimit 2 -ScriptBlock {
                Import-Module $using:ModuleManifest
                Invoke-VirtioBlkBenchmark -Path $using:Loop -QueueDepth 2 -IoCount 2000
            }
            $all.Count | Should -Be 3
            ($all | Group-Object Device).Count | Should -Be 3
            ($all | Measure-Object P99Us -Maximum).Maximum | Should -BeGreaterThan 0
        }
        finally { $sessions | Remove-PSSession }
    }

    It 'runs the operators'' check suite unchanged through Invoke-Command (examples/Invoke-VirtioBlkFleetCheck.ps1)' {
        if (Skip-IfNoSshd) { return }
        if (-not (Get-VirtioBlkDevice)) { Set-ItResult -Skipped -Because 'no virtio-blk disk on this machine'; return }
        $remoting = $Remote.Clone(); $remoting.Remove('HostName')
        $rows = @(& (Join-Path $RepoRoot 'examples/Invoke-VirtioBlkFleetCheck.ps1') -HostName 127.0.0.1 -RemotingParameters $remoting `
                -PesterModule (Join-Path (Get-Module Pester).ModuleBase 'Pester.psd1') `
                -Configuration @{ ModulePath = $ModuleManifest; MinimumPollQueues = 0; ExpectPassthrough = $false; MaxP99ReadLatencyUs = 0 } -ErrorAction Stop)
        $rows.Count | Should -BeGreaterThan 1
        $rows | Where-Object Result -EQ 'Failed' | ForEach-Object { "$($_.Check): $($_.Message)" } | Should -BeNullOrEmpty
        ($rows | Group-Object PSComputerName).Name | Should -Be '127.0.0.1'
        $rows | Where-Object Check -Like '*is writable*' | ForEach-Object Result | Should -Be 'Passed'
    }
}
