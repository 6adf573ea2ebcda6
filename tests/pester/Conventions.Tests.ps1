#Requires -Version 7.4
# The sector cmdlets behave like PowerShell's own: paths through the provider, strings by value, whole numbers only,
# -Verbose that says what was decided, and exports people can read. And they never lose or shift data: a pipeline
# with one bad item writes nothing, a source without an end is refused, -WhatIf opens nothing.

BeforeDiscovery {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $script:Skip = -not $CanMakeLoops
}

BeforeAll {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $Write = 'VirtioBlk.PowerShell.WriteVirtioBlkSectorCommand'
    $Loop = if ($CanMakeLoops) { New-TestLoop -Size 4MB -SectorSize 512 }
    # The ErrorRecords a command writes (its -ErrorAction and the stream redirection come through @args).
    function Get-Errors([scriptblock] $Run) {
        , @(& $Run -ErrorAction Continue 2>&1 | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
    }
}

AfterAll {
    Remove-TestLoop $Loop
}

Describe 'Write-VirtioBlkSector never shifts data' -Tags CI {
    It 'a pipeline with an item that is not bytes writes nothing at all, and says which item' -Skip:$Skip {
        $before = Read-WithDd $Loop.Path 300 3
        $a = New-Pattern 512 1; $c = New-Pattern 512 3
        $errs = Get-Errors { $a, 'oops', $c | Write-VirtioBlkSector $Loop.Path -Sector 300 -Confirm:$false @args }
        $errs.FullyQualifiedErrorId | Should -Be @("VirtioBlkInputNotBytes,$Write", "VirtioBlkIncompleteInput,$Write")
        $errs[0].TargetObject | Should -Be 'oops'
        $errs[1].CategoryInfo.Category | Should -Be 'InvalidData'
        Test-SameBytes $before (Read-WithDd $Loop.Path 300 3) | Should -BeTrue
    }

    It 'objects, $null and numbers past a byte are refused the same way' -Skip:$Skip -TestCases @(
        @{ Bad = [pscustomobject]@{ X = 1 } }
        @{ Bad = 300 }
        @{ Bad = [char] 'x' }
    ) {
        $before = Read-WithDd $Loop.Path 400 2
        $errs = Get-Errors { (New-Pattern 512 5), $Bad | Write-VirtioBlkSector $Loop.Path -Sector 400 -Confirm:$false @args }
        $errs[-1].FullyQualifiedErrorId | Should -Be "VirtioBlkIncompleteInput,$Write"
        Test-SameBytes $before (Read-WithDd $Loop.Path 400 2) | Should -BeTrue
    }

    It 'single bytes and small numbers are taken as bytes, in order' -Skip:$Skip {
        $bytes = New-Pattern 512 7
        $bytes[0..255] + [byte[]] $bytes[256..511] | Write-VirtioBlkSector $Loop.Path -Sector 500 -Confirm:$false -ErrorAction Stop
        Test-SameBytes $bytes (Read-WithDd $Loop.Path 500 1) | Should -BeTrue
    }
}

Describe 'Write-VirtioBlkSector -SourcePath is bounded' -Tags CI {
    It '<Source> is refused as <What> before anything is read' -Skip:$Skip -TestCases @(
        @{ Source = '/dev/zero'; What = '*character device*' }
        @{ Source = '/tmp'; What = '*directory*' }
        @{ Source = $null; What = '*block device*' }
    ) {
        if (-not $Source) { $Source = $Loop.Path }
        $errs = Get-Errors { Write-VirtioBlkSector $Loop.Path 0 -SourcePath $Source -Confirm:$false @args }
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Be "VirtioBlkSourceNotFile,$Write"
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        "$($errs[0])" | Should -BeLike $What
    }

    It 'a relative -SourcePath is resolved against the current location' -Skip:$Skip {
        $dir = Join-Path ([IO.Path]::GetTempPath()) "vb-src-$PID"
        New-Item -ItemType Directory $dir -Force | Out-Null
        $bytes = New-Pattern 1024 11
        [IO.File]::WriteAllBytes((Join-Path $dir 'block.bin'), $bytes)
        Push-Location $dir
        try { Write-VirtioBlkSector $Loop.Path 600 -SourcePath ./block.bin -Confirm:$false -ErrorAction Stop }
        finally { Pop-Location; Remove-Item -Recurse -Force $dir }
        Test-SameBytes $bytes (Read-WithDd $Loop.Path 600 2) | Should -BeTrue
    }
}

Describe '-WhatIf touches nothing' -Tags CI {
    It 'a -WhatIf write on a disk another process holds exclusively prints its What-if line, no busy error' -Skip:$Skip {
        # dd with O_EXCL is not available; hold the disk with an exclusive open of our own, in another process.
        $start = [System.Diagnostics.ProcessStartInfo]::new('python3')
        foreach ($a in '-c', "import os,time; fd=os.open('$($Loop.Path)', os.O_RDONLY|os.O_EXCL); time.sleep(30)") { $start.ArgumentList.Add($a) }
        $holder = [System.Diagnostics.Process]::Start($start)
        try {
            # Wait until the holder has the disk open (the interpreter may take a while to start).
            $fds = "/proc/$($holder.Id)/fd"
            for ($i = 0; $i -lt 100; $i++) {
                if (Get-ChildItem $fds -ErrorAction Ignore | Where-Object { $_.ResolvedTarget -eq $Loop.Path }) { break }
                Start-Sleep -Milliseconds 100
            }
            $errs = Get-Errors { Write-VirtioBlkSector $Loop.Path 0 -InputObject ([byte[]]::new(512)) -WhatIf @args }
            $errs.Count | Should -Be 0
            # The real write is refused by the kernel's claim, by id.
            $errs = Get-Errors { Write-VirtioBlkSector $Loop.Path 0 -InputObject ([byte[]]::new(512)) -Confirm:$false @args }
            $errs[0].FullyQualifiedErrorId | Should -Be "VirtioBlkDeviceBusy,$Write"
        }
        finally { $holder.Kill(); $holder.WaitForExit() }
    }
}

Describe 'Paths like Get-Content' -Tags CI {
    It 'a path relative to the current location: Set-Location /dev; Read-VirtioBlkSector ./<name>' -Skip:$Skip {
        Push-Location /dev
        try { $r = Read-VirtioBlkSector "./$($Loop.Name)" 0 -Mode Block -ErrorAction Stop }
        finally { Pop-Location }
        $r.Path | Should -Be $Loop.Path
    }

    It 'a string by value from the pipeline, and several of them' -Skip:$Skip {
        ($Loop.Path | Read-VirtioBlkSector -Sector 0 -Mode Block -ErrorAction Stop).Path | Should -Be $Loop.Path
        @($Loop.Path, $Loop.Path | Read-VirtioBlkSector -Sector 8 -Mode Block -ErrorAction Stop).Count | Should -Be 2
    }

    It 'wildcards in -Path, none in -LiteralPath' -Skip:$Skip {
        $pattern = $Loop.Path -replace 'loop', 'l?op'
        (Read-VirtioBlkSector $pattern 0 -Mode Block -ErrorAction Stop).Path | Should -Be $Loop.Path
        $errs = Get-Errors { Read-VirtioBlkSector -LiteralPath $pattern -Sector 0 @args }
        $errs[0].FullyQualifiedErrorId | Should -Be 'VirtioBlkPathNotFound,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
    }

    It 'Invoke-VirtioBlkBenchmark takes strings by value, relative paths and wildcards, one result per disk' -Skip:$Skip {
        $r = @($Loop.Path, $Loop.Path | Invoke-VirtioBlkBenchmark -IoCount 200 -QueueDepth 2 -SubmitBatch 1 -CompleteBatch 1 -ErrorAction Stop)
        $r.Count | Should -Be 2
        Push-Location /dev
        try { $rel = Invoke-VirtioBlkBenchmark "./$($Loop.Name)" -IoCount 200 -QueueDepth 2 -SubmitBatch 1 -CompleteBatch 1 -ErrorAction Stop }
        finally { Pop-Location }
        $rel.Path | Should -Be $Loop.Path
        $v = Invoke-VirtioBlkBenchmark ($Loop.Path -replace 'loop', 'l?op') -IoCount 200 -QueueDepth 2 -SubmitBatch 1 -CompleteBatch 1 -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($v.Message -join "`n") | Should -BeLike "*Block path on $($Loop.Path): 1 thread(s), one ring each of 2 entries*"
    }

    It 'Get-VirtioBlkDevice -Verbose says where each figure came from' {
        $v = Get-VirtioBlkDevice -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        if (-not $v) { Set-ItResult -Skipped -Because 'this machine has no virtio-blk disk'; return }
        $v[0].Message | Should -BeLike '*poll queues (counted from *'
    }

    It 'a path of another provider is refused by id' {
        $errs = Get-Errors { Read-VirtioBlkSector Env:HOME 0 @args }
        $errs[0].FullyQualifiedErrorId | Should -Be 'VirtioBlkNotBlockDevice,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
    }
}

Describe '-Verbose says what was decided' -Tags CI {
    It 'a read names the path and why, the split, the open, the ring and the registration' -Skip:$Skip {
        $v = Read-VirtioBlkSector $Loop.Path 0 -Count 16 -FixedBuffer -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        $text = $v.Message -join "`n"
        $text | Should -BeLike '*Block path (*'
        $text | Should -BeLike '*8192 bytes as 1 I/Os*'
        $text | Should -BeLike '*Opened*read-only, O_DIRECT*'
        $text | Should -BeLike '*Ring: * entries*'
        $text | Should -BeLike '*Registered one*buffer*'
    }
}

Describe 'Output people can read and export' -Tags CI {
    It 'the hex view collapses repeated lines and caps a long dump with a note' {
        $zeros = [VirtioBlk.PowerShell.Devices.HexDump]::Dump([byte[]]::new(1MB), 0)
        ($zeros -split "`n").Count | Should -Be 4
        $zeros | Should -Match '(?m)^\*$'
        $noise = [byte[]]::new(1MB); [Random]::new(3).NextBytes($noise)
        $lines = [VirtioBlk.PowerShell.Devices.HexDump]::Dump($noise, 0) -split "`n"
        $lines.Count | Should -Be ([VirtioBlk.PowerShell.Devices.HexDump]::DefaultMaxLines + 2)
        $lines[-1] | Should -BeLike '... * more bytes from *'
        ($lines | Measure-Object Length -Maximum).Maximum | Should -BeLessOrEqual 80
    }

    It '-Raw | Format-Hex shows the bytes' -Skip:$Skip {
        $hex = Read-VirtioBlkSector $Loop.Path 0 -Raw | Format-Hex | Out-String
        $hex | Should -BeLike '*00000000000001F0*'
    }

    It 'JSON names the mode, and a device exported to CSV has no System.String[] column' -Skip:$Skip {
        (Read-VirtioBlkSector $Loop.Path 0 -Mode Block | ConvertTo-Json -Depth 1 | ConvertFrom-Json).Mode | Should -Be 'Block'
        $csv = Get-VirtioBlkDevice | Select-Object -First 1 | ConvertTo-Csv | Out-String
        $csv | Should -Not -BeLike '*System.String`[`]*'
        $csv | Should -Not -BeLike '*System.Collections*'
        $json = Get-VirtioBlkDevice | Select-Object -First 1 | ConvertTo-Json | ConvertFrom-Json
        , $json.Features | Should -BeOfType [object[]]
    }

    It 'the passthrough report exports its verdict and states as names' {
        $json = Test-VirtioBlkPassthrough | Select-Object -First 1 | ConvertTo-Json -Depth 3 | ConvertFrom-Json
        $json.Verdict | Should -BeIn 'Ok', 'OkWithoutPoll', 'Unavailable'
        $json.Checks[0].State | Should -BeIn 'Passed', 'Failed', 'Skipped'
    }
}
