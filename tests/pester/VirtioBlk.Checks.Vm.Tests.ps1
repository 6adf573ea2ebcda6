#Requires -Version 7.4
# examples/VirtioBlk.Checks.Tests.ps1 in the test VM (build.ps1 -Task VmTest runs *.Vm.Tests.ps1 with -Tag VM), with
# the thresholds an operator of such VMs would set: every virtio disk has poll queues and polled passthrough, none is
# read-only, and p99 read latency stays under a bound loose enough for QEMU's TCG emulation. It checks the disks vbfile
# and vbnull: the matrix's others are read-only (vbro) or fail reads (vbfault) by design, and each disk's latency probe
# costs a minute under TCG. The probe only reads. Run in its own pwsh, as an operator's Pester run would be.

BeforeDiscovery {
    $script:InGuest = $env:VBK_GUEST -eq '1'
}

Describe 'examples/VirtioBlk.Checks.Tests.ps1 in the VM' -Tags VM {
    BeforeAll {
        $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
        $Pwsh = Join-Path $PSHOME 'pwsh'
        $PesterPath = Join-Path (Get-Module Pester).ModuleBase 'Pester.psd1'
        . (Join-Path $PSScriptRoot 'VmDisks.ps1')
        # Kernel names, as the suite's configuration takes them.
        $Checked = @('vbfile', 'vbnull' | ForEach-Object { (Get-VbkGuestDisk $_).Name } | Where-Object { $_ })
        function Invoke-Checks([hashtable] $Configuration) {
            & $Pwsh -NoProfile -NonInteractive -Command {
                param($PesterPath, $SuitePath, $Configuration)
                Import-Module $PesterPath
                $c = New-PesterContainer -Path $SuitePath -Data @{ Configuration = $Configuration }
                $r = Invoke-Pester -Container $c -Output None -PassThru
                $r.Tests | ForEach-Object { [pscustomobject]@{ Check = $_.ExpandedPath; Result = [string] $_.Result; Message = "$($_.ErrorRecord | Select-Object -First 1)" } }
            } -args $PesterPath, (Join-Path $RepoRoot 'examples/VirtioBlk.Checks.Tests.ps1'), $Configuration
        }
    }

    It 'passes with poll queues, polled passthrough and a p99 bound expected on every disk' {
        if (-not $InGuest) { Set-ItResult -Skipped -Because 'runs in the test VM (build.ps1 -Task VmTest)'; return }
        $rows = @(Invoke-Checks @{
                ModulePath = (Join-Path $RepoRoot 'VirtioBlk.psd1'); MinimumDisks = 2; MinimumPollQueues = 1
                Disks = $Checked
                ExpectPassthrough = $true; ExpectPolledPassthrough = $true; MaxP99ReadLatencyUs = 200000
                Probe = @{ Mode = 'Passthrough'; QueueDepth = 1; Seconds = 1 }
            })
        # The baseline check skips by design when the data file names no saved baseline (BaselinePath); all else must pass.
        $rows | Where-Object { $_.Result -ne 'Passed' -and -not ($_.Result -eq 'Skipped' -and $_.Check -like '*holds its baseline*') } |
            ForEach-Object { "$($_.Check): $($_.Result) $($_.Message)" } | Should -BeNullOrEmpty
        $rows.Count | Should -BeGreaterOrEqual 9
        ($rows | Where-Object Check -Like '*has passthrough available').Count | Should -BeGreaterOrEqual 2
    }

    It 'fails the latency check when the bound is impossible' {
        if (-not $InGuest) { Set-ItResult -Skipped -Because 'runs in the test VM (build.ps1 -Task VmTest)'; return }
        $rows = @(Invoke-Checks @{ ModulePath = (Join-Path $RepoRoot 'VirtioBlk.psd1'); MaxP99ReadLatencyUs = 0.001; Probe = @{ Seconds = 1 }; Disks = $Checked })
        $latency = @($rows | Where-Object Check -Like '*keeps p99 read latency under the threshold')
        $latency.Count | Should -BeGreaterOrEqual 2
        $latency.Result | Sort-Object -Unique | Should -Be 'Failed'
    }
}
