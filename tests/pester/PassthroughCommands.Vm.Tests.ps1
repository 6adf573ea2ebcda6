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
        if ((Get-Content /proc/cmdline) -match 'virtio_blk\.\w*refuse\w*=1') {
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
