#Requires -Version 7.4
# In the test VM, where the disks have /dev/vdXc0: -Path completion offers the char devices, and the passthrough and
# Compare results format in every view (table, fio-like list, Chart) live and deserialized (as over remoting).

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $NullDisk = Get-VirtioBlkDevice -ErrorAction SilentlyContinue | Where-Object Serial -EQ 'vbnull' | Select-Object -First 1
    function Skip-WithoutNullDisk {
        if (-not $NullDisk -or -not $NullDisk.PassthroughAvailable) { Set-ItResult -Skipped -Because 'no vbnull disk with /dev/vdXc0 (runs in the test VM)'; return $true }
        $false
    }
    function ConvertTo-Deserialized($InputObject) {
        [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($InputObject))
    }
}

Describe 'Views and completion in the VM' -Tags VM {
    It '-Path completes the block and the char device of every disk' {
        if (Skip-WithoutNullDisk) { return }
        $texts = (TabExpansion2 'Read-VirtioBlkSector -Path /dev/v').CompletionMatches.CompletionText
        foreach ($d in Get-VirtioBlkDevice) {
            $texts | Should -Contain $d.Path
            $texts | Should -Contain $d.CharDevicePath
        }
        (TabExpansion2 'Get-VirtioBlkDevice -Name v').CompletionMatches.CompletionText | Should -Contain 'vda'
    }

    It 'a polled passthrough result formats as table, list and Chart, deserialized too' {
        if (Skip-WithoutNullDisk) { return }
        $r = Invoke-VirtioBlkBenchmark -Path $NullDisk.CharDevicePath -Mode Passthrough -Poll -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 4 -Seconds 2.2 -ErrorAction Stop
        $d = ConvertTo-Deserialized $r
        foreach ($o in $r, $d) {
            ($o | Format-Table | Out-String) | Should -Match 'passthru\+poll'
            ($o | Format-List | Out-String) | Should -Match 'IOPS trend'
            ($o | Format-Custom -View Chart | Out-String) | Should -Match 'Passthrough, polled'
        }
        @($d.GetIopsSamples()).Count | Should -BeIn 3, 4   # the partial last second counts too
    }

    It 'a comparison formats as table, list and Chart, deserialized too' {
        if (Skip-WithoutNullDisk) { return }
        $c = Invoke-VirtioBlkBenchmark -Path $NullDisk.Path -Compare -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 4 -Rounds 1 -Seconds 1 -ErrorAction Stop
        $d = ConvertTo-Deserialized $c
        $d.Runs.Count | Should -Be 2
        $d.Runs[0].TotalLatency.P99Us | Should -Be $c.Runs[0].TotalLatency.P99Us
        foreach ($o in $c, $d) {
            ($o | Format-Table | Out-String) | Should -Match 'Passthrough IOPS'
            ($o | Format-List | Out-String) | Should -Match 'ratio pt/blk'
            (($o | Format-Custom -View Chart | Out-String) | Select-String 'latency distribution' -AllMatches).Matches.Count | Should -Be 2
        }
    }
}
