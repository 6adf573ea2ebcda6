#Requires -Version 7.4
# build.ps1 -Task Package: out/VirtioBlk/<version>/ imports in a fresh pwsh (by path, and by name from PSModulePath),
# carries everything it needs (dependencies, views, type data, help, license), and its manifest is complete.
# build.ps1 -Task Test packages before Pester runs; run on its own, this file packages first.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    $Pwsh = Join-Path $PSHOME 'pwsh'
    [xml] $props = Get-Content -Raw (Join-Path $RepoRoot 'Directory.Build.props')
    $Version = @($props.Project.PropertyGroup.VersionPrefix | Where-Object { $_ })[0]
    $Package = Join-Path $RepoRoot "out/VirtioBlk/$Version"
    if (-not (Test-Path (Join-Path $Package 'VirtioBlk.psd1'))) {
        & $Pwsh -NoProfile -File (Join-Path $RepoRoot 'build.ps1') -Task Package | Out-Null
    }
    $Manifest = Join-Path $Package 'VirtioBlk.psd1'
    $Data = Import-PowerShellDataFile $Manifest

    function Invoke-Fresh([string] $Script) {
        # A new process, started outside the repository, so nothing of the checkout can leak in.
        Push-Location ([System.IO.Path]::GetTempPath())
        try { & $Pwsh -NoProfile -NonInteractive -Command "`$ErrorActionPreference = 'Stop'; `$PSStyle.OutputRendering = 'PlainText'; $Script" 2>&1 }
        finally { Pop-Location }
    }
}

Describe 'The package' -Tags CI {
    It 'is out/VirtioBlk/<version>/ with the version of Directory.Build.props' {
        $Manifest | Should -Exist
        $Data.ModuleVersion | Should -Be $Version
    }

    It 'holds <_>' -ForEach @('VirtioBlk.psd1', 'VirtioBlk.PowerShell.dll', 'VirtioBlk.Core.dll', 'HdrHistogram.dll',
        'VirtioBlk.Format.ps1xml', 'VirtioBlk.Benchmark.Format.ps1xml', 'VirtioBlk.Types.ps1xml', 'LICENSE',
        'en-US/VirtioBlk.PowerShell.dll-Help.xml', 'en-US/about_VirtioBlk.help.txt') {
        Join-Path $Package $_ | Should -Exist
    }

    It 'has a manifest whose paths all point inside the package' {
        foreach ($f in @($Data.RootModule) + $Data.RequiredAssemblies + $Data.FormatsToProcess + $Data.TypesToProcess) {
            $f | Should -Not -Match 'out/|module/'
            Join-Path $Package $f | Should -Exist
        }
        { Test-ModuleManifest $Manifest -ErrorAction Stop } | Should -Not -Throw
    }

    It 'has a complete manifest: explicit exports, Core edition, minimum PowerShell, tags, license, release notes' {
        $Data.CmdletsToExport.Count | Should -Be 6
        $Data.CmdletsToExport | Should -Not -Contain '*'
        foreach ($k in 'FunctionsToExport', 'AliasesToExport', 'VariablesToExport') { @($Data[$k]).Count | Should -Be 0 -Because "$k is explicit" }
        $Data.CompatiblePSEditions | Should -Be @('Core')
        $Data.PrivateData.PSData.Tags | Should -Contain 'virtio-blk'
        $Data.PrivateData.PSData.LicenseUri | Should -Match '^https://'
        $Data.PrivateData.PSData.ReleaseNotes | Should -Match $([regex]::Escape($Version))
    }

    It '<Name> manifest: PowerShellVersion is the pwsh that runs the assemblies'' .NET, and a Copyright from LICENSE' -TestCases @(
        @{ Name = 'the checkout''s'; FromPackage = $false }
        @{ Name = 'the package''s'; FromPackage = $true }
    ) {
        $m = Import-PowerShellDataFile ($FromPackage ? $Manifest : (Join-Path $RepoRoot 'VirtioBlk.psd1'))
        # pwsh 7.6 is the first to run on .NET 10; a lower minimum lets a 7.4 user import and fail to load the DLL.
        $framework = @(([xml] (Get-Content -Raw (Join-Path $RepoRoot 'Directory.Build.props'))).Project.PropertyGroup.TargetFramework | Where-Object { $_ })[0]
        $minimum = @{ 'net8.0' = '7.4'; 'net9.0' = '7.5'; 'net10.0' = '7.6' }[$framework]
        $minimum | Should -Not -BeNullOrEmpty -Because "$framework needs an entry in this table"
        $m.PowerShellVersion | Should -Be $minimum
        $license = (Get-Content (Join-Path $RepoRoot 'LICENSE') | Select-String '^Copyright \(c\) (.+)$').Matches[0].Groups[1].Value
        $m.Copyright | Should -BeLike "(c) $license*"
        # The explicit lists stay explicit.
        $m.CmdletsToExport | Should -Not -Contain '*'
        $m.CmdletsToExport.Count | Should -BeGreaterThan 0
        foreach ($k in 'FunctionsToExport', 'AliasesToExport', 'VariablesToExport') { $m.ContainsKey($k) | Should -BeTrue -Because "$k is listed"; @($m[$k]).Count | Should -Be 0 }
    }

    It 'imports by path in a fresh pwsh, with its cmdlets, views, type data and help' {
        $out = Invoke-Fresh @"
Import-Module '$Manifest'
`$m = Get-Module VirtioBlk
'base=' + `$m.ModuleBase
'version=' + `$m.Version
'cmdlets=' + ((`$m.ExportedCmdlets.Keys | Sort-Object) -join ',')
'examples=' + ((Get-Command -Module VirtioBlk | ForEach-Object { @((Get-Help `$_.Name).examples.example).Count } | Measure-Object -Minimum).Minimum)
'about=' + [bool](Get-Help about_VirtioBlk | Out-String | Select-String 'POLL QUEUES')
'views=' + [bool](Get-FormatData -TypeName VirtioBlk.PowerShell.Benchmark.VirtioBlkBenchmarkResult)
'types=' + [bool](Get-TypeData VirtioBlk.Core.Devices.VirtioBlkDevice).Members['SizeHuman']
'core=' + [bool]('VirtioBlk.Core.IoUringException' -as [type])
"@
        $text = $out -join "`n"
        $text | Should -Match ('base=' + [regex]::Escape((Resolve-Path $Package).Path))
        $text | Should -Match "version=$([regex]::Escape($Version))"
        $text | Should -Match 'cmdlets=Compare-VirtioBlkBenchmark,Get-VirtioBlkDevice,Invoke-VirtioBlkBenchmark,Read-VirtioBlkSector,Test-VirtioBlkPassthrough,Write-VirtioBlkSector'
        $text | Should -Match 'examples=([2-9]|\d\d)'
        $text | Should -Match 'about=True'
        $text | Should -Match 'views=True'
        $text | Should -Match 'types=True'
        $text | Should -Match 'core=True'
    }

    It 'imports by name when out/ is on PSModulePath, and runs Get-VirtioBlkDevice' {
        $out = Invoke-Fresh @"
`$env:PSModulePath = '$(Join-Path $RepoRoot 'out')' + [System.IO.Path]::PathSeparator + `$env:PSModulePath
Import-Module VirtioBlk -RequiredVersion $Version
'loaded=' + (Get-Module VirtioBlk).ModuleBase
@(Get-VirtioBlkDevice).Count
"@
        ($out -join "`n") | Should -Match ('loaded=' + [regex]::Escape((Resolve-Path $Package).Path) + '\s')
    }
}
