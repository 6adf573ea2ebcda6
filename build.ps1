#Requires -Version 7.4
<#
.SYNOPSIS
    The project's front door: build, test, package, and the VM tier (kernel build, VM tests, a VM shell).
.DESCRIPTION
    Tasks run in the order given. Test runs every tier and ends with one line "N passed, N failed, N skipped"
    adding up every runner (xunit on the host, Pester on the host, and the in-guest suites of the VM tier);
    it exits non-zero when anything failed or nothing ran.

      Build    dotnet build of the core, the cmdlets (into out/bin, where VirtioBlk.psd1 points) and the tests
      Test     Build, then the xunit tests, the Pester tests and, unless -SkipVm, VmTest
      Build    also turns docs/help/*.md into en-US/ (MAML and about topics; fails on incomplete help)
      Package  a versioned module folder out/VirtioBlk/<version>/ that imports in a fresh pwsh, help and license included
      Kernel   builds (or takes from the cache) the patched guest kernel; prints its path
      VmTest   boots the patched kernel with the disk matrix (tests/vm/README.md), runs the in-guest suites, then the debug kernel
      VmRun    the same guest running -Command (or an interactive shell), with -Kernel to boot another kernel
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task Test
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task Test -SkipVm
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task VmRun -Command 'pwsh -c "Import-Module ./VirtioBlk.psd1; Get-VirtioBlkDevice"'
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package', 'Kernel', 'VmTest', 'VmRun', 'Clean')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Leave out the VM tier (QEMU and the patched kernel).
    [switch] $SkipVm,

    # VmRun: the bzImage to boot instead of the project's patched kernel.
    [string] $Kernel,

    # VmRun: the command line to run in the guest (bash, in the project directory); none gives a shell.
    [string] $Command,

    # VmTest/VmRun: seconds before the guest is killed and the task fails.
    [int] $VmTimeoutSeconds = 1500
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$env:NO_COLOR = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$PSStyle.OutputRendering = 'PlainText'

$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ResultsDir = Join-Path $Out 'test-results'
$PesterVersion = '5.7.1'
$PesterManifest = Join-Path $Root ".tools/pester/$PesterVersion/tools/Pester.psd1"
$CoreTests = Join-Path $Root 'tests/VirtioBlk.Core.Tests'
# Tallies of every runner, for the closing line.
$script:Tally = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; Runners = 0 }

function Invoke-Native {
    param([string] $File, [string[]] $Arguments, [switch] $AllowFailure)
    Write-Host "> $File $($Arguments -join ' ')"
    & $File @Arguments
    $rc = $LASTEXITCODE
    if ($rc -ne 0 -and -not $AllowFailure) { throw "$File exited with $rc" }
    return $rc
}

function Get-Version {
    # One version source: VersionPrefix in Directory.Build.props.
    ([xml](Get-Content -Raw (Join-Path $Root 'Directory.Build.props'))).Project.PropertyGroup.VersionPrefix |
        Where-Object { $_ } | Select-Object -First 1
}

function Add-Tally([int] $Passed, [int] $Failed, [int] $Skipped, [string] $Runner) {
    $script:Tally.Passed += $Passed
    $script:Tally.Failed += $Failed
    $script:Tally.Skipped += $Skipped
    $script:Tally.Runners++
    Write-Host "[$Runner] $Passed passed, $Failed failed, $Skipped skipped"
}

# Reads an xunit v3 XML report; a missing report counts as one failure, so a crashed runner cannot pass.
function Read-XunitReport([string] $Path, [string] $Runner) {
    if (-not (Test-Path $Path)) {
        Add-Tally 0 1 0 "$Runner (no report at $Path)"
        return
    }
    $passed = $failed = $skipped = 0
    foreach ($a in ([xml](Get-Content -Raw $Path)).assemblies.assembly) {
        $passed += [int]$a.passed
        $failed += [int]$a.failed + [int]$a.errors
        $skipped += [int]$a.skipped
    }
    Add-Tally $passed $failed $skipped $Runner
}

function Invoke-Build {
    Invoke-Native dotnet @('build', (Join-Path $Root 'src/VirtioBlk.PowerShell'), '-c', $Configuration, '--nologo', '-v', 'q') | Out-Null
    Invoke-Native dotnet @('build', $CoreTests, '-c', $Configuration, '--nologo', '-v', 'q') | Out-Null
    Invoke-HelpBuild
}

# docs/help/*.md -> en-US/ beside the manifest (MAML for the cmdlets, about_*.help.txt), where Get-Help looks.
# In a fresh pwsh: the tool imports the module to read the real parameters, and fails when the help is incomplete.
function Invoke-HelpBuild {
    $enUS = Join-Path $Root 'en-US'
    Invoke-Native (Join-Path $PSHOME 'pwsh') @('-NoProfile', '-File', (Join-Path $Root 'tools/Build-Help.ps1'),
        '-ModulePath', (Join-Path $Root 'VirtioBlk.psd1'), '-OutputPath', $enUS, '-AboutOutputPath', $enUS) | Select-Object -SkipLast 1 | Out-Host
}

function Install-Pester {
    if (-not (Test-Path $PesterManifest)) {
        Invoke-Native dotnet @('package', 'download', "Pester@$PesterVersion", '--output', (Join-Path $Root '.tools')) | Out-Null
    }
}

function Invoke-CoreTests {
    New-Item -ItemType Directory -Force $ResultsDir | Out-Null
    $report = Join-Path $ResultsDir 'core.xml'
    Remove-Item $report -ErrorAction Ignore
    $dll = Join-Path $CoreTests "bin/$Configuration/net10.0/VirtioBlk.Core.Tests.dll"
    # The VM tier runs the Tier=Vm tests for real; on the host they skip with their reason.
    Invoke-Native dotnet @($dll, '-result-xml', $report, '-notrait', 'Tier=Vm') -AllowFailure | Out-Null
    Read-XunitReport $report 'xunit (host)'
}

function Invoke-PesterTests {
    Install-Pester
    New-Item -ItemType Directory -Force $ResultsDir | Out-Null
    $summary = Join-Path $ResultsDir 'pester-host.txt'
    # A fresh pwsh: a process that loaded the module keeps the old assembly.
    $pwsh = Join-Path $PSHOME 'pwsh'
    & $pwsh -NoProfile -File (Join-Path $Root 'tests/pester/Invoke-Tests.ps1') -PesterPath $PesterManifest | Tee-Object -FilePath $summary | Out-Host
    Read-SummaryLine $summary 'pester (host)'
}

# Reads the last "N passed, N failed[, N skipped]" line a runner printed; none counts as a failure.
function Read-SummaryLine([string] $Path, [string] $Runner) {
    $line = if (Test-Path $Path) { Get-Content $Path | Where-Object { $_ -match '^\s*(\d+) passed, (\d+) failed(, (\d+) skipped)?\s*$' } | Select-Object -Last 1 }
    if (-not $line) {
        Add-Tally 0 1 0 "$Runner (no summary line)"
        return
    }
    $null = $line -match '^\s*(\d+) passed, (\d+) failed(, (\d+) skipped)?'
    Add-Tally ([int]$Matches[1]) ([int]$Matches[2]) ([int]($Matches[4] ?? 0)) $Runner
}

function Invoke-KernelBuild {
    $lines = & bash (Join-Path $Root 'kernel/build-kernel.sh')
    if ($LASTEXITCODE -ne 0) { throw "kernel/build-kernel.sh exited with $LASTEXITCODE" }
    $image = @($lines)[-1]
    Write-Host "kernel: $image"
    return $image
}

function Invoke-Vm([string] $GuestCommand, [string] $KernelImage, [string] $Results) {
    $vmArgs = @((Join-Path $Root 'tests/vm/run-vm.sh'), '--kernel', $KernelImage)
    if ($GuestCommand) { $vmArgs += @('--command', $GuestCommand, '--timeout', "$VmTimeoutSeconds") }
    if ($Results) { $vmArgs += @('--results', $Results) }
    & bash @vmArgs | Out-Host
    return $LASTEXITCODE
}

function Invoke-VmTests {
    $image = Invoke-KernelBuild
    $vmResults = Join-Path $ResultsDir 'vm'
    Remove-Item -Recurse -Force $vmResults, "$vmResults-debug" -ErrorAction Ignore
    New-Item -ItemType Directory -Force $vmResults | Out-Null
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $witness = @(& bash (Join-Path $Root 'tests/vm/c/build.sh'))[-1]
    if ($LASTEXITCODE -ne 0) { throw 'tests/vm/c/build.sh failed' }
    $rc = Invoke-Vm "bash tests/vm/guest-tests.sh '$Configuration' '$witness'" $image $vmResults
    Write-Host ("VM tier: guest exited {0} after {1:N0} s" -f $rc, $sw.Elapsed.TotalSeconds)
    Read-XunitReport (Join-Path $vmResults 'core-vm.xml') 'xunit (guest)'
    Read-SummaryLine (Join-Path $vmResults 'c-witness.txt') 'C witness (guest)'
    if (Test-Path (Join-Path $vmResults 'pester-vm.txt')) {
        Read-SummaryLine (Join-Path $vmResults 'pester-vm.txt') 'pester (guest)'
    }
    # Second boot, on the debug kernel (KASAN, lockdep): matrix, faults, removal; any kernel report fails.
    $debugImage = @(& bash (Join-Path $Root 'kernel/build-kernel.sh') --debug)[-1]
    if ($LASTEXITCODE -ne 0) { throw 'kernel/build-kernel.sh --debug failed' }
    $rc = [Math]::Max($rc, (Invoke-Vm "bash tests/vm/guest-debug-tests.sh '$witness'" $debugImage "$vmResults-debug"))
    Read-SummaryLine (Join-Path "$vmResults-debug" 'debug-kernel.txt') 'debug kernel (guest)'
    if (Test-Path "$vmResults-debug/pester-debug.txt") { Read-SummaryLine "$vmResults-debug/pester-debug.txt" 'pester (debug kernel)' }
    if ($rc -ne 0 -and $script:Tally.Failed -eq 0) {
        Add-Tally 0 1 0 "VM tier (guest exit code $rc)"
    }
}

function Invoke-Package {
    $version = Get-Version
    $dest = Join-Path $Out "VirtioBlk/$version"
    Remove-Item -Recurse -Force (Join-Path $Out 'VirtioBlk') -ErrorAction Ignore
    New-Item -ItemType Directory -Force $dest | Out-Null
    $bin = Join-Path $Out 'bin'
    foreach ($f in 'VirtioBlk.PowerShell.dll', 'VirtioBlk.Core.dll', 'HdrHistogram.dll', 'VirtioBlk.PowerShell.deps.json') {
        $p = Join-Path $bin $f
        if (-not (Test-Path $p)) { throw "package: $p is missing (build first)" }
        Copy-Item $p $dest
    }
    Copy-Item -Recurse (Join-Path $Root 'module/*') $dest
    # Help (built from docs/help by Invoke-HelpBuild) and the license travel with the module.
    Copy-Item -Recurse (Join-Path $Root 'en-US') $dest
    Copy-Item (Join-Path $Root 'LICENSE') $dest
    # The checkout's manifest points into out/bin and module/; the package's into its own folder. Its version is
    # the one version source's, whatever the checkout's manifest says.
    $manifest = Get-Content -Raw (Join-Path $Root 'VirtioBlk.psd1')
    $manifest = $manifest -replace "out/bin/", '' -replace "'module/", "'"
    $manifest = $manifest -replace "(?m)^(\s*ModuleVersion\s*=\s*)'[^']*'", "`${1}'$version'"
    Set-Content -Path (Join-Path $dest 'VirtioBlk.psd1') -Value $manifest -NoNewline
    Write-Host "package: $dest"
}

foreach ($t in $Task) {
    switch ($t) {
        'Clean' { Remove-Item -Recurse -Force $Out -ErrorAction Ignore }
        'Build' { Invoke-Build }
        'Package' { Invoke-Build; Invoke-Package }
        'Kernel' { Invoke-KernelBuild | Out-Null }
        'VmRun' {
            $image = if ($Kernel) { (Resolve-Path $Kernel).Path } else { Invoke-KernelBuild }
            Invoke-Build
            $rc = Invoke-Vm $Command $image $null
            exit $rc
        }
        'VmTest' {
            Invoke-Build
            Invoke-VmTests
        }
        'Test' {
            Invoke-Build
            # The Pester tests import the package in a fresh pwsh.
            Invoke-Package
            Invoke-CoreTests
            Invoke-PesterTests
            if ($SkipVm) { Write-Host 'VM tier skipped (-SkipVm)' } else { Invoke-VmTests }
        }
    }
}

if ($script:Tally.Runners -gt 0) {
    $t = $script:Tally
    "$($t.Passed) passed, $($t.Failed) failed, $($t.Skipped) skipped"
    if ($t.Failed -gt 0 -or ($t.Passed + $t.Skipped) -eq 0) { exit 1 }
}
exit 0
