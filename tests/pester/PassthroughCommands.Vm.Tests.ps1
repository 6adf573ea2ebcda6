#Requires -Version 7.4
# What the guest's kernel takes through passthrough, as Test-VirtioBlkPassthrough reports it, and a flush that
# reaches the device on each path with -Verbose saying how. Tagged VM: on a host without the disks every test skips.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $File = Get-VirtioBlkDevice -ErrorAction SilentlyContinue | Where-Object Serial -EQ 'vbfile' | Select-Object -First 1

    function Skip-WithoutPassthrough {
        if (-not $File) { Set-ItResult -Skipped -Because 'no virtio disk with serial vbfile (runs in the test VM: build.ps1 -Task VmTest)'; return $true }
        if (-not $File.PassthroughAvailable) { Set-ItResult -Skipped -Because "$($File.Name) has no passthrough char device"; return $true }
        $false
    }
}

Describe 'Passthrough commands the kernel takes' -Tags VM {
    It 'this project''s kernel takes IN, FLUSH, GET_ID and polled IN, and needs CAP_SYS_ADMIN' {
        if (Skip-WithoutPassthrough) { return }
        $report = Test-VirtioBlkPassthrough $File.Path -ErrorAction Stop
        $states = @{}
        foreach ($c in $report.Commands) { $states[$c.Name] = $c.State }
        $states['IN'] | Should -Be 'Passed'
        $states['OUT'] | Should -Be 'Skipped'
        $states['IN (polled)'] | Should -Be 'Passed'
        if ((Get-Content -Raw /sys/module/virtio_blk/parameters/passthru_rw_only -ErrorAction Ignore) -match '^[1Y]') {
            # A debug switch of the project's patch makes FLUSH and GET_ID answer as the OpenAnolis variant does.
            $states['FLUSH'] | Should -Be 'Failed'
        }
        else {
            $states['FLUSH'] | Should -Be 'Passed'
            $states['GET_ID'] | Should -Be 'Passed'
        }
        $report.RootRequired | Should -BeTrue
        ($report | ConvertTo-Json -Depth 4 | ConvertFrom-Json).Commands[0].State | Should -Be 'Passed'
    }

    It 'where the kernel refuses FLUSH and GET_ID (as the OpenAnolis variant does) the report says so and -Flush stays durable through the block device' {
        if (Skip-WithoutPassthrough) { return }
        $switch = '/sys/module/virtio_blk/parameters/passthru_rw_only'
        if (-not (Test-Path $switch)) { Set-ItResult -Skipped -Because "this kernel has no $switch (the project's patch adds it)"; return }
        Set-Content $switch 1
        try {
            $report = Test-VirtioBlkPassthrough $File.Path -ErrorAction Stop
            $report.Verdict | Should -Be 'Ok'    # reads and writes still work: FLUSH and GET_ID are not prerequisites
            ($report.Commands | Where-Object Name -EQ 'FLUSH').State | Should -Be 'Failed'
            ($report.Commands | Where-Object Name -EQ 'FLUSH').Detail | Should -BeLike '*EOPNOTSUPP*'
            ($report.Commands | Where-Object Name -EQ 'GET_ID').State | Should -Be 'Failed'
            $bytes = [byte[]]::new(4096); [Random]::new(23).NextBytes($bytes)
            $v = Write-VirtioBlkSector $File.CharDevicePath 16384 -InputObject $bytes -Mode Passthrough -Flush -Confirm:$false -Verbose -ErrorAction Stop 4>&1
            $text = @($v | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n"
            $text | Should -BeLike '*refused the passthrough FLUSH*'
            $text | Should -BeLike "*Flushed with fsync of $($File.Path)*"
            $back = Read-VirtioBlkSector $File.Path 16384 -Count 8 -Mode Block -Raw -ErrorAction Stop
            [System.Linq.Enumerable]::SequenceEqual($bytes, $back) | Should -BeTrue
        }
        finally { Set-Content $switch 0 }
    }

    It 'a -Flush write through <Mode> says how it was made durable' -TestCases @(@{ Mode = 'Passthrough' }, @{ Mode = 'Block' }) {
        if (Skip-WithoutPassthrough) { return }
        $bytes = [byte[]]::new(4096); [Random]::new(17).NextBytes($bytes)
        $v = Write-VirtioBlkSector $File.Path 8192 -InputObject $bytes -Mode $Mode -Flush -Confirm:$false -Verbose -ErrorAction Stop 4>&1
        $text = @($v | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n"
        if ($Mode -eq 'Block') { $text | Should -BeLike '*Flushed with fsync*' }
        else { $text | Should -Match 'VIRTIO_BLK_T_FLUSH|fsync of /dev/' }
        $back = Read-VirtioBlkSector $File.Path 8192 -Count 8 -Mode Block -Raw -ErrorAction Stop
        [System.Linq.Enumerable]::SequenceEqual($bytes, $back) | Should -BeTrue
    }
}
