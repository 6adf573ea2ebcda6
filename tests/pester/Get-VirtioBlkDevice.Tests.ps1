#Requires -Version 7.4
# Get-VirtioBlkDevice against the running kernel's own /sys and /proc: every expected value below is read from
# the kernel's files by this script, independently of the module's C# reader. Needs at least one virtio-blk disk
# (the machines this runs on have /dev/vda); tests that need something this machine lacks skip with a reason.

BeforeDiscovery {
    # Computed at discovery, because -TestCases and -Skip are decided before any BeforeAll runs.
    $script:VirtioDisks = @(Get-ChildItem /sys/block | Where-Object {
            $driver = Get-Item "/sys/block/$($_.Name)/device/driver" -ErrorAction Ignore
            $driver -and (Split-Path -Leaf $driver.ResolvedTarget) -eq 'virtio_blk'
        } | ForEach-Object Name)
    $script:OtherDisks = @(Get-ChildItem /sys/block | Where-Object Name -NotIn $script:VirtioDisks | ForEach-Object Name)
    $script:FirstDisk = $script:VirtioDisks | Select-Object -First 1
    $script:FirstPartition = if ($script:FirstDisk) {
        Get-ChildItem "/sys/block/$script:FirstDisk" -Directory |
            Where-Object { Test-Path "$($_.FullName)/partition" } | Select-Object -First 1 -ExpandProperty Name
    }
}

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $FullyQualified = 'VirtioBlk.PowerShell.GetVirtioBlkDeviceCommand'

    function Read-Sys([string] $Path) {
        # The kernel's text without the trailing newline; $null when the attribute is absent or unreadable.
        try { ([System.IO.File]::ReadAllText($Path)).TrimEnd("`n") } catch { $null }
    }

    function Get-MountPointsOf([string] $Disk) {
        # Field 3 of /proc/self/mountinfo is major:minor, field 5 the mount point (octal-escaped).
        $numbers = @((Read-Sys "/sys/block/$Disk/dev")) + @(Get-ChildItem "/sys/block/$Disk" -Directory |
                Where-Object { Test-Path "$($_.FullName)/partition" } | ForEach-Object { Read-Sys "$($_.FullName)/dev" })
        $points = foreach ($line in Get-Content /proc/self/mountinfo) {
            $f = $line -split ' '
            if ($f[2] -in $numbers) { [regex]::Replace($f[4], '\\([0-7]{3})', { [string][char][Convert]::ToInt32($args[0].Groups[1].Value, 8) }) }
        }
        @($points | Select-Object -Unique)
    }

    function Get-ExpectedSize([long] $Bytes) {
        $units = 'B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'
        $value = [double] $Bytes; $unit = 0
        while ($value -ge 1024 -and $unit -lt $units.Count - 1) { $value /= 1024; $unit++ }
        '{0} {1}' -f $value.ToString($(if ($unit) { '0.#' } else { '0' }), [cultureinfo]::InvariantCulture), $units[$unit]
    }
}

Describe 'VirtioBlk module' -Tags CI {
    It 'imports from the repository root with exactly the cmdlets its manifest lists' {
        $manifest = Import-PowerShellDataFile (Join-Path $RepoRoot 'VirtioBlk.psd1')
        $manifest.CmdletsToExport | Should -Not -Contain '*'
        $exported = (Get-Module VirtioBlk).ExportedCmdlets.Keys | Sort-Object
        $exported | Should -Be ($manifest.CmdletsToExport | Sort-Object)
    }

    It 'defines no cmdlet class that the manifest leaves out' {
        $assembly = (Get-Module VirtioBlk).ImplementingAssembly
        $defined = $assembly.GetExportedTypes() |
            ForEach-Object { $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) } |
            ForEach-Object { "$($_.VerbName)-$($_.NounName)" } | Sort-Object
        $defined | Should -Be ((Get-Module VirtioBlk).ExportedCmdlets.Keys | Sort-Object)
    }

    It 'has the version of Directory.Build.props' {
        [xml] $props = Get-Content (Join-Path $RepoRoot 'Directory.Build.props') -Raw
        $prefix = @($props.Project.PropertyGroup.VersionPrefix | Where-Object { $_ })[0]
        (Get-Module VirtioBlk).Version | Should -Be ([version] $prefix)
    }

    It 'passes Test-ModuleManifest' {
        { Test-ModuleManifest (Join-Path $RepoRoot 'VirtioBlk.psd1') -ErrorAction Stop } | Should -Not -Throw
    }
}

Describe 'Get-VirtioBlkDevice' -Tags CI {
    Context 'listing' {
        It 'lists exactly the virtio-blk disks of /sys/block' {
            (Get-VirtioBlkDevice).Name | Should -Be $VirtioDisks
        } -TestCases @{ VirtioDisks = $VirtioDisks }

        It '<Name> is not listed (not virtio-blk)' -TestCases @($OtherDisks | ForEach-Object { @{ Name = $_ } }) {
            (Get-VirtioBlkDevice).Name | Should -Not -Contain $Name
        }

        It '<Name> by name is refused as not a virtio-blk disk' -TestCases @($OtherDisks | Select-Object -First 2 | ForEach-Object { @{ Name = $_ } }) {
            { Get-VirtioBlkDevice -Name $Name -ErrorAction Stop } |
                Should -Throw -ErrorId "VirtioBlkNotVirtioDisk,$FullyQualified"
        }

        It 'outputs VirtioBlkDevice objects' -Skip:(-not $FirstDisk) {
            Get-VirtioBlkDevice | Should -BeOfType ([VirtioBlk.Core.Devices.VirtioBlkDevice])
        }
    }

    Context 'properties of <_>' -ForEach $VirtioDisks {
        BeforeAll {
            $Disk = $_
            $Sys = "/sys/block/$Disk"
            $Device = Get-VirtioBlkDevice -Name $Disk -ErrorAction Stop
        }

        It '<Property> equals the kernel''s <Source>' -TestCases @(
            @{ Property = 'SizeBytes'; Source = 'size * 512'; Expected = { [long] (Get-Content "$Sys/size") * 512 } }
            @{ Property = 'Sectors'; Source = 'size'; Expected = { [long] (Get-Content "$Sys/size") } }
            @{ Property = 'Name'; Source = 'directory name'; Expected = { $Disk } }
            @{ Property = 'Path'; Source = '/dev node name'; Expected = { "/dev/$Disk" } }
            @{ Property = 'DeviceNumber'; Source = 'dev'; Expected = { Read-Sys "$Sys/dev" } }
            @{ Property = 'LogicalBlockSize'; Source = 'queue/logical_block_size'; Expected = { [int] (Read-Sys "$Sys/queue/logical_block_size") } }
            @{ Property = 'PhysicalBlockSize'; Source = 'queue/physical_block_size'; Expected = { [int] (Read-Sys "$Sys/queue/physical_block_size") } }
            @{ Property = 'MaxTransferBytes'; Source = 'queue/max_sectors_kb * 1024'; Expected = { [long] (Read-Sys "$Sys/queue/max_sectors_kb") * 1024 } }
            @{ Property = 'MaxHwTransferBytes'; Source = 'queue/max_hw_sectors_kb * 1024'; Expected = { [long] (Read-Sys "$Sys/queue/max_hw_sectors_kb") * 1024 } }
            @{ Property = 'MaxSegments'; Source = 'queue/max_segments'; Expected = { [int] (Read-Sys "$Sys/queue/max_segments") } }
            @{ Property = 'ReadOnly'; Source = 'ro'; Expected = { (Read-Sys "$Sys/ro") -eq '1' } }
            @{ Property = 'Serial'; Source = 'serial'; Expected = { $s = Read-Sys "$Sys/serial"; if ($s) { $s } else { $null } } }
            @{ Property = 'QueueCount'; Source = 'mq/* count'; Expected = { @(Get-ChildItem "$Sys/mq" -Directory | Where-Object Name -Match '^\d+$').Count } }
            @{ Property = 'IoPoll'; Source = 'queue/io_poll'; Expected = { (Read-Sys "$Sys/queue/io_poll") -eq '1' } }
            @{ Property = 'Scheduler'; Source = 'queue/scheduler'; Expected = { if ((Read-Sys "$Sys/queue/scheduler") -match '\[([^\]]+)\]') { $Matches[1] } else { (Read-Sys "$Sys/queue/scheduler").Trim() } } }
            @{ Property = 'WriteCache'; Source = 'queue/write_cache'; Expected = { Read-Sys "$Sys/queue/write_cache" } }
            @{ Property = 'NrRequests'; Source = 'queue/nr_requests'; Expected = { [int] (Read-Sys "$Sys/queue/nr_requests") } }
            @{ Property = 'FeatureBits'; Source = 'device/features'; Expected = { (Read-Sys "$Sys/device/features").Trim() } }
            @{ Property = 'VirtioDevice'; Source = 'device link'; Expected = { Split-Path -Leaf (Get-Item "$Sys/device").ResolvedTarget } }
            @{ Property = 'Holders'; Source = 'holders/'; Expected = { @(Get-ChildItem "$Sys/holders" | ForEach-Object Name) } }
            @{ Property = 'Partitions'; Source = '*/partition'; Expected = { @(Get-ChildItem $Sys -Directory | Where-Object { Test-Path "$($_.FullName)/partition" } | ForEach-Object Name) } }
            @{ Property = 'MountPoints'; Source = '/proc/self/mountinfo'; Expected = { Get-MountPointsOf $Disk } }
            @{ Property = 'CharDevicePath'; Source = 'class vblk-generic'; Expected = { if ((Test-Path "/sys/class/vblk-generic/${Disk}c0") -and (Test-Path "/dev/${Disk}c0")) { "/dev/${Disk}c0" } else { $null } } }
        ) {
            $expected = & $Expected
            if ($expected -is [array]) {
                @($Device.$Property) | Should -Be $expected
            }
            else {
                $Device.$Property | Should -Be $expected
            }
        }

        It 'PassthroughAvailable follows CharDevicePath' {
            $Device.PassthroughAvailable | Should -Be ($null -ne $Device.CharDevicePath)
        }

        It 'decodes one feature name per set bit, bit 0 first' {
            $set = @(0..($Device.FeatureBits.Length - 1) | Where-Object { $Device.FeatureBits[$_] -eq '1' })
            $Device.Features.Count | Should -Be $set.Count
            if ($Device.FeatureBits.Length -gt 32 -and $Device.FeatureBits[32] -eq '1') {
                $Device.Features | Should -Contain 'VIRTIO_F_VERSION_1'
            }
            if ($Device.FeatureBits[9] -eq '1') { $Device.Features | Should -Contain 'VIRTIO_BLK_F_FLUSH' }
        }

        It 'PollQueues is 0 without queue/io_poll, and never more than the queues' {
            if (-not $Device.IoPoll) { $Device.PollQueues | Should -Be 0 }
            $Device.PollQueues | Should -BeLessOrEqual $Device.QueueCount
        }

        It 'InUse agrees with MountPoints, SwapAreas and Holders' {
            $Device.InUse | Should -Be ([bool] ($Device.MountPoints.Count + $Device.SwapAreas.Count + $Device.Holders.Count))
        }
    }

    Context '-Name' -Skip:(-not $FirstDisk) {
        BeforeAll { $First = @(Get-VirtioBlkDevice)[0].Name }

        It '<Case>' -TestCases @(
            @{ Case = 'plain name'; Given = { $First } }
            @{ Case = '/dev/ path'; Given = { "/dev/$First" } }
            @{ Case = 'passthrough node name'; Given = { "${First}c0" } }
            @{ Case = 'passthrough node path'; Given = { "/dev/${First}c0" } }
            @{ Case = 'wildcard'; Given = { $First.Substring(0, 2) + '*' } }
            @{ Case = 'wildcard with /dev/'; Given = { '/dev/' + $First.Substring(0, $First.Length - 1) + '?' } }
            @{ Case = 'character class wildcard'; Given = { $First.Substring(0, $First.Length - 1) + '[' + $First[-1] + ']' } }
        ) {
            (Get-VirtioBlkDevice -Name (& $Given) -ErrorAction Stop).Name | Should -Contain $First
        }

        It 'writes each disk once however many names match it' {
            @(Get-VirtioBlkDevice -Name $First, "/dev/$First", 'vd*').Where({ $_.Name -eq $First }).Count | Should -Be 1
        }

        It 'a plain name that matches nothing is ObjectNotFound with id VirtioBlkDeviceNotFound' {
            { Get-VirtioBlkDevice -Name 'vdnope' -ErrorAction Stop } |
                Should -Throw -ErrorId "VirtioBlkDeviceNotFound,$FullyQualified"
            Get-VirtioBlkDevice -Name 'vdnope' -ErrorAction SilentlyContinue -ErrorVariable err
            $err.Count | Should -Be 1
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err[0].TargetObject | Should -Be 'vdnope'
            "$($err[0]) $($err[0].ErrorDetails.RecommendedAction)" | Should -BeLike '*Get-VirtioBlkDevice*'
        }

        It 'the error is non-terminating: the next name is still processed (<Case>)' -TestCases @(
            @{ Case = 'array argument'; Run = { Get-VirtioBlkDevice -Name 'vdnope', $First -ErrorAction SilentlyContinue -ErrorVariable +err } }
            @{ Case = 'pipeline'; Run = { 'vdnope', $First | Get-VirtioBlkDevice -ErrorAction SilentlyContinue -ErrorVariable +err } }
        ) {
            $err = [System.Collections.ArrayList]::new()
            $out = . $Run
            $out.Name | Should -Be $First
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be "VirtioBlkDeviceNotFound,$FullyQualified"
        }

        It 'a wildcard that matches nothing writes nothing and no error' {
            $out = Get-VirtioBlkDevice -Name 'zz*' -ErrorAction Stop -ErrorVariable err
            $out | Should -BeNullOrEmpty
            $err | Should -BeNullOrEmpty
        }

        It 'a partition is refused with VirtioBlkPartitionNotDisk' -Skip:(-not $FirstPartition) -TestCases @{ Partition = $FirstPartition } {
            { Get-VirtioBlkDevice -Name $Partition -ErrorAction Stop } |
                Should -Throw -ErrorId "VirtioBlkPartitionNotDisk,$FullyQualified"
        }

        It 'rejects an empty name' {
            { Get-VirtioBlkDevice -Name '' -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentValidationError,VirtioBlk.PowerShell.GetVirtioBlkDeviceCommand'
        }
    }

    Context 'pipeline binding' -Skip:(-not $FirstDisk) {
        BeforeAll { $First = @(Get-VirtioBlkDevice)[0].Name }

        It 'by value: <Case>' -TestCases @(
            @{ Case = 'a string'; Pipe = { $First } }
            @{ Case = 'a /dev path'; Pipe = { "/dev/$First" } }
        ) {
            (& $Pipe | Get-VirtioBlkDevice).Name | Should -Be $First
        }

        It 'by property name: <Case>' -TestCases @(
            @{ Case = 'an object with Name'; Pipe = { [pscustomobject]@{ Name = $First } } }
            @{ Case = 'its own output'; Pipe = { Get-VirtioBlkDevice -Name $First } }
            @{ Case = 'Get-Item of the node'; Pipe = { Get-Item "/dev/$First" } }
        ) {
            (& $Pipe | Get-VirtioBlkDevice).Name | Should -Be $First
        }
    }

    Context 'formatting' -Skip:(-not $FirstDisk) {
        BeforeAll {
            $env:NO_COLOR = '1'
            $First = @(Get-VirtioBlkDevice)[0]
        }

        It 'the default view is a table with the header <Header>' -TestCases @(
            'Name', 'Size', 'LogicalBlock', 'Queues', 'PollQueues', 'Passthrough', 'Serial' | ForEach-Object { @{ Header = $_ } }
        ) {
            $text = $First | Out-String
            ($text -split "`n")[1] | Should -Match "\b$Header\b"
        }

        It 'shows the size in binary units' {
            $First | Out-String | Should -BeLike "*$(Get-ExpectedSize $First.SizeBytes)*"
        }

        It 'the list view shows the decoded features' {
            $text = $First | Format-List | Out-String
            $text | Should -BeLike '*Features*'
            foreach ($feature in $First.Features) { $text -replace '\s', '' | Should -BeLike "*$feature*" }
        }
    }

    Context 'tab completion' -Skip:(-not $FirstDisk) {
        It 'completes <Line> with <Expected>' -TestCases @(
            @{ Line = 'Get-VirtioBlkDevice -Name v'; Expected = $FirstDisk }
            @{ Line = 'Get-VirtioBlkDevice v'; Expected = $FirstDisk }
            @{ Line = 'Get-VirtioBlkDevice -Name /dev/v'; Expected = "/dev/$FirstDisk" }
            @{ Line = "Get-VirtioBlkDevice -Name $FirstDisk"; Expected = $FirstDisk }
        ) {
            $result = TabExpansion2 -inputScript $Line -cursorColumn $Line.Length
            $result.CompletionMatches.CompletionText | Should -Contain $Expected
        }

        It 'offers nothing that is not a virtio-blk disk' {
            $result = TabExpansion2 -inputScript 'Get-VirtioBlkDevice -Name l' -cursorColumn 27
            $result.CompletionMatches | Where-Object ResultType -EQ 'ParameterValue' | Should -BeNullOrEmpty
        }
    }
}
