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

Describe 'The closing summary of build.ps1 -Task Test (tools/BuildSupport.ps1)' -Tags CI {
    BeforeAll {
        # The functions run as build.ps1 runs them: dot-sourced into a script of a fresh pwsh.
        function Invoke-Support([string] $Body) {
            $script = Join-Path $Work "support-$([guid]::NewGuid().ToString('N').Substring(0, 8)).ps1"
            Set-Content $script ". '$RepoRoot/tools/BuildSupport.ps1'`n$Body`nif (Write-TestSummary) { exit 0 } else { exit 1 }"
            $lines = @(& $Pwsh -NoProfile -NonInteractive -File $script 2>&1 | ForEach-Object { "$_" })
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Lines = $lines; Text = $lines -join "`n" }
        }
    }

    It 'names each suite that could not start with its reason, counts it as a failure, and ends with the tally' {
        $noSummary = Join-Path $Work 'runner-output.txt'
        Set-Content $noSummary "Starting discovery`nImport-Module: The specified module 'Pester.psd1' was not loaded"
        $r = Invoke-Support @"
Add-Tally 3 0 1 'alpha'
Invoke-Suite 'beta' { throw 'Pester 5.7.1 is not at /nowhere' }
Read-SummaryLine '/nonexistent/guest.txt' 'gamma'
Read-SummaryLine '$noSummary' 'delta'
Read-XunitReport '/nonexistent/report.xml' 'epsilon'
"@
        $r.ExitCode | Should -Be 1
        $r.Lines | Should -Contain '  [beta] did not start: Pester 5.7.1 is not at /nowhere'
        $r.Lines | Should -Contain '  [gamma] did not start: no output at /nonexistent/guest.txt'
        $r.Lines | Should -Contain "  [delta] did not start: no summary line in $noSummary; it ended with: Import-Module: The specified module 'Pester.psd1' was not loaded"
        $r.Lines | Should -Contain '  [epsilon] did not start: no report at /nonexistent/report.xml'
        $r.Lines | Should -Contain '  [alpha] 3 passed, 0 failed, 1 skipped'
        $r.Lines[-1] | Should -Be '3 passed, 4 failed, 1 skipped'
    }

    It 'a run in which no test ran fails, and one in which all passed does not' {
        $none = Invoke-Support "Add-Tally 0 0 0 'empty'"
        $none.ExitCode | Should -Be 1
        $none.Lines[-1] | Should -Be '0 passed, 0 failed, 0 skipped'
        $ok = Invoke-Support "Add-Tally 5 0 2 'a'; Add-Tally 1 0 0 'b'"
        $ok.ExitCode | Should -Be 0
        $ok.Lines[-1] | Should -Be '6 passed, 0 failed, 2 skipped'
    }
}

Describe 'Prerequisites: apt-get waits for the dpkg lock' -Tags CI {
    BeforeDiscovery { $script:CanApt = (& id -u) -eq '0' -and [bool](Get-Command apt-get -ErrorAction Ignore) -and (Test-Path /var/lib/dpkg/status) }

    It 'Invoke-Apt waits while another process holds the lock, then succeeds' -Skip:(-not $CanApt) {
        # A dpkg admin directory of its own (a copy of the status file), so the machine's real lock is never held and
        # nobody else's apt run is disturbed; apt derives the lock's path from Dir::State::status.
        $admin = Join-Path $Work 'dpkg'
        New-Item -ItemType Directory -Force $admin | Out-Null
        Copy-Item /var/lib/dpkg/status (Join-Path $admin 'status')
        $lock = Join-Path $admin 'lock-frontend'
        New-Item -ItemType File -Force $lock, (Join-Path $admin 'lock') | Out-Null
        $apt = @('-o', "Dir::State::status=$admin/status", 'check')
        # Another process holds the lock (fcntl, as dpkg takes it) for 4 s.
        $holder = Join-Path $Work 'hold-lock.ps1'
        Set-Content $holder "`$fs = [IO.FileStream]::new('$lock', 'Open', 'ReadWrite', 'ReadWrite'); `$fs.Lock(0, 1); 'locked'; Start-Sleep -Seconds 4; `$fs.Dispose()"
        $out = Join-Path $Work 'hold-lock.out'
        $p = Start-Process $Pwsh -ArgumentList '-NoProfile', '-File', $holder -RedirectStandardOutput $out -PassThru
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (-not ((Test-Path $out) -and (Get-Content -Raw $out) -match 'locked') -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            (Get-Content -Raw $out) | Should -Match 'locked'
            # Without waiting apt fails at once: the lock is really held.
            & apt-get @apt *> $null
            $LASTEXITCODE | Should -Not -Be 0
            . (Join-Path $RepoRoot 'tools/BuildSupport.ps1')
            $clock = [Diagnostics.Stopwatch]::StartNew()
            { Invoke-Apt $apt } | Should -Not -Throw
            $p.HasExited | Should -BeTrue -Because 'apt got the lock only after the holder let go'
        }
        finally {
            if (-not $p.HasExited) { $p.Kill() }
            $p.WaitForExit()
        }
    }
}
