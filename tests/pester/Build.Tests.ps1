#Requires -Version 7.4
# build.ps1 as a user calls it: `pwsh -File build.ps1 -Task Build,Package,Publish` (through -File the list arrives as
# one string), each task once per invocation (Package does not build again), and Publish making
# VirtioBlk.<version>.nupkg that Install-PSResource puts on a machine, where Import-Module finds it by name.
# One real build.ps1 run per repository form (a registered name, a folder); MSBuild makes the builds no-ops after
# build.ps1 -Task Test's own.

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    $Pwsh = Join-Path $PSHOME 'pwsh'
    [xml] $props = Get-Content -Raw (Join-Path $RepoRoot 'Directory.Build.props')
    $Version = @($props.Project.PropertyGroup.VersionPrefix | Where-Object { $_ })[0]
    $Work = Join-Path ([IO.Path]::GetTempPath()) "vblk-publish-$([guid]::NewGuid().ToString('N').Substring(0, 12))"
    $Feed = Join-Path $Work 'feed'
    New-Item -ItemType Directory -Force $Feed | Out-Null

    # A temporary file repository under a name of its own, as an admin registers a share or a feed.
    $RepoName = "VirtioBlkTest-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    Register-PSResourceRepository -Name $RepoName -Uri $Feed -Trusted

    function Invoke-BuildScript([string[]] $Arguments) {
        # As a user types it: pwsh -File, so arrays arrive as the shell gave them (here: one string).
        $output = & $Pwsh -NoProfile -File (Join-Path $RepoRoot 'build.ps1') @Arguments 2>&1 | ForEach-Object { "$_" }
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Lines = @($output); Text = $output -join "`n" }
    }

    $ByName = Invoke-BuildScript @('-Task', 'Build,Package,Publish', '-Repository', $RepoName)
}

AfterAll {
    Unregister-PSResourceRepository -Name $RepoName -ErrorAction Ignore
    Remove-Item -Recurse -Force $Work -ErrorAction Ignore
}

Describe 'build.ps1 -Task as a list, each task once' -Tags CI {
    It '-Task Build,Package,Publish through pwsh -File runs the three tasks' {
        $ByName.ExitCode | Should -Be 0 -Because $ByName.Text
        $ByName.Text | Should -Match '(?m)^tasks: Build, Package, Publish$'
        $ByName.Text | Should -Match "(?m)^package: .*out/VirtioBlk/$([regex]::Escape($Version))$"
    }

    It 'builds once: Package and Publish reuse the Build of the same run' {
        @($ByName.Lines -match '^> dotnet build ').Count | Should -Be 1 -Because $ByName.Text
        @($ByName.Lines -match 'tools/Build-Help\.ps1').Count | Should -Be 1
        @($ByName.Lines -cmatch '^package: ').Count | Should -Be 1
        @($ByName.Lines -match '^Build: already done in this run$').Count | Should -BeGreaterOrEqual 1
    }

    It 'refuses an unknown task by name before doing anything' {
        $r = Invoke-BuildScript @('-Task', 'Build,Bogus')
        $r.ExitCode | Should -Not -Be 0
        $r.Text | Should -Match "Unknown task 'Bogus'"
        $r.Text | Should -Not -Match '> dotnet build'
    }
}

Describe 'build.ps1 -Task Publish, then Install-PSResource on a "VM"' -Tags CI {
    It 'publishes VirtioBlk.<version>.nupkg into the repository given by name' {
        $ByName.Text | Should -Match "publish: VirtioBlk $([regex]::Escape($Version)) to $RepoName"
        Join-Path $Feed "VirtioBlk.$Version.nupkg" | Should -Exist
        # The registration is the test's; build.ps1 added none of its own.
        @(Get-PSResourceRepository | Where-Object Name -Like 'VirtioBlkBuild-*').Count | Should -Be 0
    }

    It 'the nupkg holds the module: manifest, assemblies, views, help and license' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead((Join-Path $Feed "VirtioBlk.$Version.nupkg"))
        try { $entries = @($zip.Entries.FullName) } finally { $zip.Dispose() }
        foreach ($f in 'VirtioBlk.psd1', 'VirtioBlk.PowerShell.dll', 'VirtioBlk.Core.dll', 'HdrHistogram.dll', 'VirtioBlk.Format.ps1xml',
            'VirtioBlk.Types.ps1xml', 'en-US/VirtioBlk.PowerShell.dll-Help.xml', 'LICENSE') {
            $entries | Should -Contain $f
        }
    }

    It 'Install-PSResource from the repository into a fresh user scope, then Import-Module VirtioBlk by name runs Get-VirtioBlkDevice' {
        # A machine of its own: HOME is a new folder, so the CurrentUser scope (~/.local/share/powershell/Modules)
        # and the repository list (~/.local/share/PSResourceGet) start empty and nothing of this machine's leaks in.
        $home2 = Join-Path $Work 'home'
        New-Item -ItemType Directory -Force $home2 | Out-Null
        $env2 = @{ HOME = $home2; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null; XDG_CACHE_HOME = $null; PSModulePath = $null }
        $saved = @{}
        foreach ($k in $env2.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $env2[$k]) }
        Push-Location $Work
        try {
            $install = & $Pwsh -NoProfile -NonInteractive -Command @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name Fleet -Uri '$Feed' -Trusted
Install-PSResource -Name VirtioBlk -Version '$Version' -Repository Fleet -Scope CurrentUser
'installed=' + (Get-InstalledPSResource -Name VirtioBlk -Scope CurrentUser).InstalledLocation
"@ 2>&1 | ForEach-Object { "$_" }
            $LASTEXITCODE | Should -Be 0 -Because ($install -join "`n")
            ($install -join "`n") | Should -Match ([regex]::Escape("$home2/.local/share/powershell/Modules"))
            Join-Path $home2 ".local/share/powershell/Modules/VirtioBlk/$Version/VirtioBlk.psd1" | Should -Exist

            # Another fresh pwsh, as a later login on that VM: by name, from the module path alone.
            $run = & $Pwsh -NoProfile -NonInteractive -Command @"
`$ErrorActionPreference = 'Stop'
Import-Module VirtioBlk
`$m = Get-Module VirtioBlk
'base=' + `$m.ModuleBase
'version=' + `$m.Version
'devices=' + @(Get-VirtioBlkDevice).Count
'ok'
"@ 2>&1 | ForEach-Object { "$_" }
            $text = $run -join "`n"
            $LASTEXITCODE | Should -Be 0 -Because $text
            $text | Should -Match ('base=' + [regex]::Escape("$home2/.local/share/powershell/Modules/VirtioBlk/$Version"))
            $text | Should -Match "version=$([regex]::Escape($Version))"
            $text | Should -Match '(?m)^devices=\d+$'
            $text | Should -Match '(?m)^ok$'
        }
        finally {
            Pop-Location
            foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
        }
    }

    It 'publishes into a folder given as -Repository, registering nothing that stays' {
        $folder = Join-Path $Work 'share'
        $r = Invoke-BuildScript @('-Task', 'Publish', '-Repository', $folder)
        $r.ExitCode | Should -Be 0 -Because $r.Text
        Join-Path $folder "VirtioBlk.$Version.nupkg" | Should -Exist
        @(Get-PSResourceRepository | Where-Object Name -Like 'VirtioBlkBuild-*').Count | Should -Be 0
    }

    It 'refuses a -Repository that is neither a registered name nor a folder' {
        $r = Invoke-BuildScript @('-Task', 'Publish', '-Repository', "nosuch$([guid]::NewGuid().ToString('N').Substring(0, 6))")
        $r.ExitCode | Should -Not -Be 0
        $r.Text | Should -Match 'neither a registered PSResource repository'
        $r.Text | Should -Not -Match '> dotnet build' -Because 'a wrong -Repository fails before any build'
    }
}
