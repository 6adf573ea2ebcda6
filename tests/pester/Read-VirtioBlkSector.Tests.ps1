#Requires -Version 7.4
# Read-VirtioBlkSector on the host: loop devices (512-byte and 4 KiB logical blocks) read through every block-path
# switch combination, each compared with dd's bytes; the -Raw output, pipeline binding and fd hygiene.
# Passthrough is tested in the VM tier (VirtioBlk.Vm.Tests.ps1); the host has no /dev/vdXc0.

BeforeDiscovery {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $script:Skip = -not $CanMakeLoops
    $script:Combinations = foreach ($size in 512, 4096) {
        foreach ($mode in 'Auto', 'Block') {
            foreach ($vectored in $false, $true) {
                foreach ($fixed in $false, $true) {
                    @{ SectorSize = $size; Mode = $mode; Vectored = $vectored; FixedBuffer = $fixed }
                }
            }
        }
    }
}

BeforeAll {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $Loops = @{}
    if ($CanMakeLoops) {
        $Loops[512] = New-TestLoop -Size 8MB -SectorSize 512
        $Loops[4096] = New-TestLoop -Size 8MB -SectorSize 4096
    }
}

AfterAll {
    foreach ($loop in $Loops.Values) { Remove-TestLoop $loop }
}

Describe 'Read-VirtioBlkSector' -Tags CI {
    Context 'round trips against dd' {
        It '<SectorSize>-byte blocks, -Mode <Mode>, Vectored=<Vectored>, FixedBuffer=<FixedBuffer>' -Skip:$Skip -TestCases $Combinations {
            $loop = $Loops[$SectorSize]
            $perBlock = $SectorSize / 512
            $switches = @{ Mode = $Mode; Vectored = $Vectored; FixedBuffer = $FixedBuffer }

            # One block (the default -Count), at a block-aligned sector away from 0.
            $one = Read-VirtioBlkSector -Path $loop.Path -Sector (24 * $perBlock) @switches -ErrorAction Stop
            $one.Mode | Should -Be 'Block'   # the host has no passthrough node, so Auto runs the block path
            $one.Count | Should -Be $perBlock
            $one.Length | Should -Be $SectorSize
            $one.Vectored | Should -Be $Vectored
            $one.FixedBuffer | Should -Be $FixedBuffer
            $one.Polled | Should -BeFalse
            $one.LatencyMicroseconds | Should -BeGreaterThan 0
            Test-SameBytes (Read-WithDd $loop.Path (24 * $perBlock) $perBlock) $one.Bytes | Should -BeTrue

            # 3 MiB + one block: split by the device's limits and kept in flight.
            $count = 6144 + $perBlock
            $big = Read-VirtioBlkSector -Path $loop.Path -Sector (8 * $perBlock) -Count $count @switches -ErrorAction Stop
            $big.Length | Should -Be ($count * 512)
            Test-SameBytes (Read-WithDd $loop.Path (8 * $perBlock) $count) $big.Bytes | Should -BeTrue
        }

        It 'reads the last block of the disk' -Skip:$Skip {
            $loop = $Loops[4096]
            $last = $loop.Size / 512 - 8
            $r = Read-VirtioBlkSector $loop.Path $last -ErrorAction Stop
            Test-SameBytes (Read-WithDd $loop.Path $last 8) $r.Bytes | Should -BeTrue
        }

        It 'takes a bare kernel name (loopN) as -Path' -Skip:$Skip {
            (Read-VirtioBlkSector -Path $Loops[512].Name -Sector 0 -ErrorAction Stop).Path | Should -Be $Loops[512].Path
        }
    }

    Context 'output' {
        It 'is a VirtioBlkSectorData whose default view is a hex dump at absolute disk offsets' -Skip:$Skip {
            $r = Read-VirtioBlkSector $Loops[512].Path 3 -Count 2 -ErrorAction Stop
            $r | Should -BeOfType ([VirtioBlk.PowerShell.Devices.VirtioBlkSectorData])
            $r.Offset | Should -Be 1536
            $text = ($r | Out-String -Width 200) -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ }
            $text[0] | Should -BeLike "$($Loops[512].Path) (Block): sectors 3..4, 1024 bytes,*"
            $text[2] | Should -BeLike '00000600  *'
            $text[-1] | Should -BeLike '000009F0  *'
            $first = ($r.Bytes[0..15] | ForEach-Object { $_.ToString('X2') }) -join ' '
            $text[2] | Should -BeLike "00000600  $first*"
        }

        It '-Raw emits one byte[] that Format-Hex and Set-Content -AsByteStream take whole' -Skip:$Skip {
            $raw = Read-VirtioBlkSector $Loops[512].Path 0 -Count 4 -Raw -ErrorAction Stop
            , $raw | Should -BeOfType ([byte[]])
            $raw.Length | Should -Be 2048
            @(Read-VirtioBlkSector $Loops[512].Path 0 -Count 4 -Raw).Count | Should -Be 1
            (Read-VirtioBlkSector $Loops[512].Path 0 -Count 4 -Raw | Format-Hex).Bytes.Count | Should -Be 2048
            $file = Join-Path ([IO.Path]::GetTempPath()) "vb-raw-$PID.bin"
            try {
                Read-VirtioBlkSector $Loops[512].Path 0 -Count 4 -Raw | Set-Content -AsByteStream -LiteralPath $file
                Test-SameBytes (Read-WithDd $Loops[512].Path 0 4) ([IO.File]::ReadAllBytes($file)) | Should -BeTrue
            }
            finally { Remove-Item $file -ErrorAction Ignore }
        }
    }

    Context 'export' {
        It 'ConvertTo-Json and Export-Csv carry the data as Base64 beside its Length, not a number per byte' -Skip:$Skip {
            $r = Read-VirtioBlkSector $Loops[512].Path 0 -Count 2048 -ErrorAction Stop   # 1 MiB
            $json = $r | ConvertTo-Json
            $json.Length | Should -BeLessThan 1.5MB
            $back = $json | ConvertFrom-Json
            $back.PSObject.Properties.Name | Should -Not -Contain 'Bytes'
            $back.Mode | Should -Be 'Block'
            $back.Length | Should -Be 1MB
            Test-SameBytes ([Convert]::FromBase64String($back.Base64)) $r.Bytes | Should -BeTrue
            $csv = @($r | ConvertTo-Csv)
            $csv.Count | Should -Be 2
            $csv[0] | Should -Not -Match 'System\.Byte'
            ($csv | ConvertFrom-Csv).Base64 | Should -BeExactly $back.Base64
            # Remoting and Export-Clixml carry Bytes once; Base64 comes back from it.
            $xml = [System.Management.Automation.PSSerializer]::Serialize($r)
            $xml.Length | Should -BeLessThan 1.6MB
            $de = [System.Management.Automation.PSSerializer]::Deserialize($xml)
            Test-SameBytes ([byte[]] $de.Bytes) $r.Bytes | Should -BeTrue
            $de.Base64 | Should -BeExactly $back.Base64
        }

        It 'Format-List shows the facts and the first bytes on one 80-column line, not the whole read' -Skip:$Skip {
            $r = Read-VirtioBlkSector $Loops[512].Path 0 -Count 2048 -ErrorAction Stop
            $text = $r | Format-List | Out-String -Width 200
            $text.Length | Should -BeLessThan 2000
            $text | Should -Match "Bytes\s+: $(($r.Bytes[0..7] | ForEach-Object { $_.ToString('X2') }) -join ' ') \.\.\. \(1048576 bytes in \.Bytes\)"
            # One line at 80 columns, not wrapped.
            $line = @(($r | Format-List | Out-String -Width 80) -split "`n" | Where-Object { $_ -match '^Bytes\s+:' })
            $line.Count | Should -Be 1
            $line[0].TrimEnd() | Should -Match 'bytes in \.Bytes\)$'
            $line[0].TrimEnd().Length | Should -BeLessOrEqual 80
        }

        It 'Write-VirtioBlkSector takes a read result back from JSON and CSV, and refuses a cut Base64' -Skip:$Skip {
            $loop = $Loops[512]
            $r = Read-VirtioBlkSector $loop.Path 100 -Count 8 -ErrorAction Stop
            $r | ConvertTo-Json | ConvertFrom-Json | Write-VirtioBlkSector $loop.Path -Sector 12000 -Confirm:$false -ErrorAction Stop
            Test-SameBytes (Read-WithDd $loop.Path 12000 8) $r.Bytes | Should -BeTrue
            $r2 = Read-VirtioBlkSector $loop.Path 200 -Count 8 -ErrorAction Stop
            $r2 | ConvertTo-Csv | ConvertFrom-Csv | Write-VirtioBlkSector $loop.Path -Sector 12000 -Confirm:$false -ErrorAction Stop
            Test-SameBytes (Read-WithDd $loop.Path 12000 8) $r2.Bytes | Should -BeTrue

            $cut = $r | ConvertTo-Json | ConvertFrom-Json
            $cut.Base64 = $cut.Base64.Substring(0, 2048)   # what a spreadsheet's cell limit leaves
            $cut | Write-VirtioBlkSector $loop.Path -Sector 12000 -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue
            $e[0].FullyQualifiedErrorId | Should -BeLike 'VirtioBlkInputNotBytes*'
            Test-SameBytes (Read-WithDd $loop.Path 12000 8) $r2.Bytes | Should -BeTrue   # nothing written
        }
    }

    Context 'pipeline' {
        It 'binds -Path from the Path property of piped objects, and goes on after a failing item' -Skip:$Skip {
            $items = @($Loops[512].Path, '/dev/vb-no-such-disk', $Loops[4096].Path) | ForEach-Object { [pscustomobject]@{ Path = $_ } }
            $results = $items | Read-VirtioBlkSector -Sector 0 -ErrorAction SilentlyContinue -ErrorVariable failures
            $results.Path | Should -Be @($Loops[512].Path, $Loops[4096].Path)
            $results[1].Length | Should -Be 4096
            $failures.Count | Should -Be 1
            $failures[0].FullyQualifiedErrorId | Should -Be 'VirtioBlkPathNotFound,VirtioBlk.PowerShell.ReadVirtioBlkSectorCommand'
        }

        It 'Get-VirtioBlkDevice output binds (<Disk>)' -TestCases @(Get-ChildItem /sys/block -Name | Where-Object { $_ -like 'vd*' } | Select-Object -First 1 | ForEach-Object { @{ Disk = $_ } }) {
            # This machine's root disk refuses opens, so the binding shows in the error's target.
            $r = Get-VirtioBlkDevice $Disk | Read-VirtioBlkSector -Sector 0 -Mode Block -ErrorAction SilentlyContinue -ErrorVariable failures
            if ($r) { $r.Path | Should -Be "/dev/$Disk" }
            else { $failures[0].TargetObject | Should -Be "/dev/$Disk" }
        }
    }

    Context 'resources' {
        It 'leaves no file descriptor open after 1,000 calls' -Skip:$Skip {
            $path = $Loops[4096].Path
            Read-VirtioBlkSector $path 0 -ErrorAction Stop | Out-Null   # warm up: JIT, module state
            $before = @(Get-ChildItem "/proc/$PID/fd").Count
            for ($i = 0; $i -lt 1000; $i++) {
                $null = Read-VirtioBlkSector $path (($i % 64) * 8) -FixedBuffer:($i % 2 -eq 0) -Vectored:($i % 3 -eq 0) -ErrorAction Stop
            }
            $after = @(Get-ChildItem "/proc/$PID/fd").Count
            $after | Should -BeLessOrEqual ($before + 2)
        }
    }
}
