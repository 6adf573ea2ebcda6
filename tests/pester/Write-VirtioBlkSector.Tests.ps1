#Requires -Version 7.4
# Write-VirtioBlkSector on the host: loop devices written through every block-path switch combination, each read
# back with dd; -WhatIf and -Confirm; the refusals of a mounted, claimed and read-only disk.

BeforeDiscovery {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $script:Skip = -not $CanMakeLoops
    $script:NoMkfs = -not (Get-Command mkfs.ext4 -ErrorAction Ignore) -and -not (Get-Command mkfs.vfat -ErrorAction Ignore)
    $script:Combinations = foreach ($size in 512, 4096) {
        foreach ($mode in 'Auto', 'Block') {
            foreach ($vectored in $false, $true) {
                foreach ($fixed in $false, $true) {
                    @{ SectorSize = $size; Mode = $mode; Vectored = $vectored; FixedBuffer = $fixed; Flush = $vectored -xor $fixed }
                }
            }
        }
    }
}

BeforeAll {
    . "$PSScriptRoot/TestLoopDevice.ps1"
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $Command = 'VirtioBlk.PowerShell.WriteVirtioBlkSectorCommand'
    $Loops = @{}
    if ($CanMakeLoops) {
        $Loops[512] = New-TestLoop -Size 8MB -SectorSize 512
        $Loops[4096] = New-TestLoop -Size 8MB -SectorSize 4096
    }
}

AfterAll {
    foreach ($loop in $Loops.Values) { Remove-TestLoop $loop }
}

Describe 'Write-VirtioBlkSector' -Tags CI {
    Context 'round trips against dd' {
        It '<SectorSize>-byte blocks, -Mode <Mode>, Vectored=<Vectored>, FixedBuffer=<FixedBuffer>, Flush=<Flush>' -Skip:$Skip -TestCases $Combinations {
            $loop = $Loops[$SectorSize]
            $perBlock = $SectorSize / 512
            $seed = $SectorSize + 2 * [int]$Vectored + [int]$FixedBuffer + 10 * ($Mode -eq 'Block')
            $switches = @{ Mode = $Mode; Vectored = $Vectored; FixedBuffer = $FixedBuffer; Flush = $Flush; Confirm = $false }

            # One block from the pipeline (bytes enumerate; the cmdlet writes them as one run).
            $block = New-Pattern $SectorSize $seed
            $result = $block | Write-VirtioBlkSector -Path $loop.Path -Sector (40 * $perBlock) -PassThru @switches -ErrorAction Stop
            $result.Mode | Should -Be 'Block'
            $result.Length | Should -Be $SectorSize
            $result.Flushed | Should -Be $Flush
            Test-SameBytes $block (Read-WithDd $loop.Path (40 * $perBlock) $perBlock) | Should -BeTrue

            # 2 MiB + one block with -InputObject: split and kept in flight.
            $big = New-Pattern (2MB + $SectorSize) ($seed + 1)
            Write-VirtioBlkSector -Path $loop.Path -Sector (64 * $perBlock) -InputObject $big @switches -ErrorAction Stop | Should -BeNullOrEmpty
            Test-SameBytes $big (Read-WithDd $loop.Path (64 * $perBlock) ($big.Length / 512)) | Should -BeTrue
        }

        It '-SourcePath writes a file''s bytes' -Skip:$Skip {
            $file = Join-Path ([IO.Path]::GetTempPath()) "vb-src-$PID.bin"
            try {
                $bytes = New-Pattern 8192 5
                [IO.File]::WriteAllBytes($file, $bytes)
                Write-VirtioBlkSector $Loops[4096].Path -Sector 16 -SourcePath $file -Confirm:$false -ErrorAction Stop
                Test-SameBytes $bytes (Read-WithDd $Loops[4096].Path 16 16) | Should -BeTrue
            }
            finally { Remove-Item $file -ErrorAction Ignore }
        }

        It 'copies with Read-VirtioBlkSector -Raw and with a read result''s Bytes' -Skip:$Skip {
            $source = $Loops[512].Path
            Read-VirtioBlkSector $source 0 -Count 16 -Raw | Write-VirtioBlkSector $Loops[4096].Path -Sector 1024 -Confirm:$false -ErrorAction Stop
            Test-SameBytes (Read-WithDd $source 0 16) (Read-WithDd $Loops[4096].Path 1024 16) | Should -BeTrue
            Read-VirtioBlkSector $source 64 -Count 8 | Write-VirtioBlkSector $Loops[4096].Path -Sector 2048 -Confirm:$false -ErrorAction Stop
            Test-SameBytes (Read-WithDd $source 64 8) (Read-WithDd $Loops[4096].Path 2048 8) | Should -BeTrue
        }

        It 'data written by the cmdlet is what Read-VirtioBlkSector reads back' -Skip:$Skip {
            $bytes = New-Pattern 4096 99
            Write-VirtioBlkSector $Loops[512].Path 200 -InputObject $bytes -Vectored -Confirm:$false -ErrorAction Stop
            Test-SameBytes $bytes (Read-VirtioBlkSector $Loops[512].Path 200 -Count 8 -FixedBuffer -Raw) | Should -BeTrue
        }
    }

    Context 'ShouldProcess' {
        It '-WhatIf changes nothing' -Skip:$Skip {
            $path = $Loops[512].Path
            $before = Read-WithDd $path 0 64
            Write-VirtioBlkSector $path -Sector 0 -InputObject ([byte[]]::new(32768)) -WhatIf -ErrorAction Stop
            Write-VirtioBlkSector $path -Sector 0 -InputObject ([byte[]]::new(32768)) -WhatIf -Force -Flush -ErrorAction Stop
            Test-SameBytes $before (Read-WithDd $path 0 64) | Should -BeTrue
        }

        It '-Confirm asks before writing (a non-interactive host refuses to ask, so nothing is written)' -Skip:$Skip {
            $path = $Loops[512].Path
            $before = Read-WithDd $path 8 8
            $script = "Import-Module '$RepoRoot/VirtioBlk.psd1'; Write-VirtioBlkSector $path -Sector 8 -InputObject ([byte[]]::new(4096)) -Confirm"
            $output = & "$PSHOME/pwsh" -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
            $output | Should -BeLike '*NonInteractive*'
            Test-SameBytes $before (Read-WithDd $path 8 8) | Should -BeTrue
        }

        It 'ConfirmImpact is High' {
            $attribute = [VirtioBlk.PowerShell.WriteVirtioBlkSectorCommand].GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
            $attribute.SupportsShouldProcess | Should -BeTrue
            $attribute.ConfirmImpact | Should -Be 'High'
        }
    }

    Context 'refusals' {
        It 'refuses a mounted disk with VirtioBlkDiskInUse, -WhatIf or not, and writes nothing' -Skip:($Skip -or $NoMkfs) {
            $loop = New-TestLoop -Size 16MB
            $mount = Join-Path ([IO.Path]::GetTempPath()) "vb-mnt-$PID"
            New-Item -ItemType Directory $mount | Out-Null
            try {
                if (Get-Command mkfs.ext4 -ErrorAction Ignore) { & mkfs.ext4 -q -F $loop.Path 2>&1 | Out-Null } else { & mkfs.vfat $loop.Path | Out-Null }
                & mount $loop.Path $mount 2>&1 | Out-Null
                if ($LASTEXITCODE) { Set-ItResult -Skipped -Because 'mount is not permitted here'; return }
                $before = Read-WithDd $loop.Path 0 8
                foreach ($whatIf in $false, $true) {
                    Write-VirtioBlkSector $loop.Path -Sector 0 -InputObject ([byte[]]::new(4096)) -Confirm:$false -WhatIf:$whatIf -ErrorAction SilentlyContinue -ErrorVariable failures
                    $failures[0].FullyQualifiedErrorId | Should -Be "VirtioBlkDiskInUse,$Command"
                    $failures[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
                    $failures[0].ToString() | Should -BeLike "*mounted at $mount*"
                }
                Test-SameBytes $before (Read-WithDd $loop.Path 0 8) | Should -BeTrue
            }
            finally {
                & umount $mount 2>$null
                Remove-Item $mount -ErrorAction Ignore
                Remove-TestLoop $loop
            }
        }

        It 'refuses a disk another opener claims exclusively with VirtioBlkDeviceBusy' -Skip:$Skip {
            $options = [VirtioBlk.Core.Devices.SectorIoOptions]::new()
            $options.Exclusive = $true
            $holder = [VirtioBlk.Core.Devices.SectorIoSession]::Open($Loops[512].Path, $options)
            try {
                Write-VirtioBlkSector $Loops[512].Path 0 -InputObject ([byte[]]::new(512)) -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failures
                $failures[0].FullyQualifiedErrorId | Should -Be "VirtioBlkDeviceBusy,$Command"
                $failures[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            }
            finally { $holder.Dispose() }
        }

        It 'refuses a read-only disk, even with -Force' -Skip:$Skip {
            $loop = New-TestLoop -Size 1MB -ReadOnly
            try {
                foreach ($force in $false, $true) {
                    Write-VirtioBlkSector $loop.Path 0 -InputObject ([byte[]]::new(512)) -Force:$force -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failures
                    $failures[0].FullyQualifiedErrorId | Should -Be "VirtioBlkReadOnly,$Command"
                    $failures[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
                }
            }
            finally { Remove-TestLoop $loop }
        }

        It 'refuses this machine''s root disk (<Disk>, mounted at /) before opening it' -TestCases @(
            Get-Content /proc/self/mountinfo | ForEach-Object { $f = $_ -split ' '; if ($f[4] -eq '/' -and $f[2] -match '^\d+:\d+$') { Get-Item "/sys/dev/block/$($f[2])" -ErrorAction Ignore } } |
                ForEach-Object { Split-Path -Leaf $_.ResolvedTarget } | Where-Object { Test-Path "/sys/block/$_" } | Select-Object -First 1 | ForEach-Object { @{ Disk = $_ } }
        ) {
            # DiskUsage refuses it before any open: this never writes to the root disk.
            Write-VirtioBlkSector "/dev/$Disk" 0 -InputObject ([byte[]]::new(4096)) -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failures
            $failures[0].FullyQualifiedErrorId | Should -Be "VirtioBlkDiskInUse,$Command"
        }
    }
}
