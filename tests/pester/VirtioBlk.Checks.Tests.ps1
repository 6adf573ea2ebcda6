#Requires -Version 7.4
# examples/VirtioBlk.Checks.Tests.ps1, the operators' check suite, run on this host as an operator would (its own
# Pester run, in a child pwsh) with thresholds that fit the host: a virtio root disk without poll queues or
# passthrough, which even root may not open (so no latency probe). Its results are asserted check by check, and a
# data file that expects what the host lacks must make the matching checks fail. The guest runs it expecting
# passthrough and poll queues (VirtioBlk.Checks.Vm.Tests.ps1); Remoting.Tests.ps1 runs it through Invoke-Command.

BeforeDiscovery {
    $script:HasVirtio = @(Get-ChildItem /sys/block | Where-Object {
            $driver = Get-Item "/sys/block/$($_.Name)/device/driver" -ErrorAction Ignore
            $driver -and (Split-Path -Leaf $driver.ResolvedTarget) -eq 'virtio_blk'
        }).Count -gt 0
}

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    $Pwsh = Join-Path $PSHOME 'pwsh'
    $Suite = Join-Path $RepoRoot 'examples/VirtioBlk.Checks.Tests.ps1'
    $Pester = (Get-Module Pester).Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop

    # Runs the suite in a fresh pwsh with a data file made of $Settings; returns one row per check.
    function Invoke-Checks([hashtable] $Settings) {
        $data = Join-Path ([System.IO.Path]::GetTempPath()) "vblk-checks-$([guid]::NewGuid().ToString('N')).psd1"
        $lines = foreach ($k in $Settings.Keys) {
            $v = $Settings[$k]
            $text = switch ($v) {
                { $_ -is [bool] } { if ($_) { '$true' } else { '$false' }; break }
                { $_ -is [string] } { "'$_'"; break }
                { $_ -is [hashtable] } { '@{ ' + (($_.GetEnumerator() | ForEach-Object { "$($_.Key) = $(if ($_.Value -is [string]) { "'$($_.Value)'" } else { $_.Value })" }) -join '; ') + ' }'; break }
                { $_ -is [array] } { '@(' + (($_ | ForEach-Object { "'$_'" }) -join ', ') + ')'; break }
                default { "$_" }
            }
            "    $k = $text"
        }
        Set-Content $data "@{`n$($lines -join "`n")`n}"
        try {
            & $Pwsh -NoProfile -NonInteractive -Command {
                param($PesterPath, $SuitePath, $DataPath)
                Import-Module $PesterPath
                $c = New-PesterContainer -Path $SuitePath -Data @{ ConfigurationPath = $DataPath }
                $r = Invoke-Pester -Container $c -Output None -PassThru
                $r.Tests | ForEach-Object { [pscustomobject]@{ Check = $_.ExpandedPath; Result = [string] $_.Result; Message = "$($_.ErrorRecord | Select-Object -First 1)" } }
            } -args $Pester, $Suite, $data
        }
        finally { Remove-Item $data -ErrorAction Ignore }
    }
    $HostSettings = @{
        ModulePath = (Join-Path $RepoRoot 'VirtioBlk.psd1'); MinimumPollQueues = 0; ExpectPassthrough = $false; MaxP99ReadLatencyUs = 0
    }
}

Describe 'examples/VirtioBlk.Checks.Tests.ps1 on this host' -Tags CI -Skip:(-not $HasVirtio) {
    BeforeAll {
        $Rows = @(Invoke-Checks $HostSettings)
        $Disks = @(Get-VirtioBlkDevice | ForEach-Object Name)
    }

    It 'runs every check for every virtio disk' {
        $Rows.Count | Should -Be (1 + 5 * $Disks.Count)
        foreach ($d in $Disks) { @($Rows | Where-Object Check -Like "disk $d.*").Count | Should -Be 5 }
    }

    It 'passes with thresholds that fit the host, skipping what they switch off' {
        $Rows | Where-Object Result -EQ 'Failed' | ForEach-Object { "$($_.Check): $($_.Message)" } | Should -BeNullOrEmpty
        ($Rows | Where-Object Check -Like '*has poll queues').Result | Should -Be 'Skipped'
        ($Rows | Where-Object Check -Like '*has passthrough available').Result | Should -Be 'Skipped'
        ($Rows | Where-Object Check -Like '*is writable*').Result | Should -Be 'Passed'
        ($Rows | Where-Object Check -Like '*holds its baseline*').Result | Should -Be 'Skipped' -Because 'BaselinePath is empty by default'
    }

    It 'fails the poll-queue and passthrough checks when the data file expects them and the host lacks them' {
        $strict = $HostSettings.Clone()
        $strict.MinimumPollQueues = 1
        $strict.ExpectPassthrough = $true
        $rows = @(Invoke-Checks $strict)
        $poll = Get-VirtioBlkDevice -ErrorAction SilentlyContinue | Where-Object PollQueues -LT 1
        $nopt = Get-VirtioBlkDevice -ErrorAction SilentlyContinue | Where-Object { -not $_.PassthroughAvailable }
        if (-not $poll -and -not $nopt) { Set-ItResult -Skipped -Because 'this machine has poll queues and passthrough'; return }
        foreach ($d in $poll) { ($rows | Where-Object Check -EQ "disk $($d.Name).has poll queues").Result | Should -Be 'Failed' }
        foreach ($d in $nopt) {
            $r = $rows | Where-Object Check -EQ "disk $($d.Name).has passthrough available"
            $r.Result | Should -Be 'Failed'
            $r.Message | Should -Match 'passthrough series'
        }
    }

    It 'fails the disk-count check when more disks are required than present' {
        $s = $HostSettings.Clone()
        $s.MinimumDisks = 99
        (@(Invoke-Checks $s) | Where-Object Check -Like 'virtio-blk disks on *').Result | Should -Be 'Failed'
    }
}
