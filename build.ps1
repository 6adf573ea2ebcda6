#Requires -Version 7.4
<#
.SYNOPSIS
    The project's front door: build, test, package, and the VM tier (kernel build, VM tests, a VM shell).
.DESCRIPTION
    Tasks run in the order given, each at most once per invocation: a task another one needs (Package needs Build)
    runs first, and not again when it is asked for too. -Task takes a list (-Task Build,Package), also through
    `pwsh -File`, where the list arrives as one string. Each task installs what it needs before it starts. Test runs
    every tier and ends with one line "N passed, N failed, N skipped" adding up every runner (xunit on the host, the
    in-process PowerShell SDK tests, Pester on the host, and the in-guest suites of the VM tier); a suite that
    could not start is named above that line with its reason and counts as a failure. It exits non-zero when
    anything failed or nothing ran.

      Build    one dotnet build (VirtioBlk.slnx) of the core, the cmdlets (into out/bin, where VirtioBlk.psd1 points)
               and the tests; also turns docs/help/*.md into en-US/ (MAML and about topics; fails on incomplete help)
      Test     installs its prerequisites (apt packages, Pester, the pwsh tool) once, up front, waiting for the dpkg
               lock; then Build, Package, the xunit tests, the PowerShell SDK tests, the Pester tests and, unless
               -SkipVm, VmTest
      Package  a versioned module folder out/VirtioBlk/<version>/ that imports in a fresh pwsh, help and license included
      Publish  Package, then Publish-PSResource of it: VirtioBlk.<version>.nupkg in -Repository (a registered
               PSResource repository's name, or a folder, by default out/repository)
      Kernel   builds (or takes from the cache) the patched guest kernel; prints its path
      VmTest   boots the patched kernel with the disk matrix (tests/vm/README.md), runs the in-guest suites, then the debug kernel
      VmRun    the same guest running -Command (or an interactive shell), with -Kernel to boot another kernel
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task Test
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task Test -SkipVm
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task Build,Package
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task Publish -Repository /srv/psrepo
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 -Task VmRun -Command 'pwsh -c "Import-Module ./VirtioBlk.psd1; Get-VirtioBlkDevice"'
#>
[CmdletBinding()]
param(
    # Not a ValidateSet: `pwsh -File build.ps1 -Task Build,Package` passes "Build,Package" as one string, which
    # the set would refuse before the script could split it. The names are checked below, after splitting.
    [ArgumentCompleter({ param($c, $p, $word) 'Build', 'Test', 'Package', 'Publish', 'Kernel', 'VmTest', 'VmRun', 'Clean' -like "$word*" })]
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
    [int] $VmTimeoutSeconds = 3000,

    # Publish: a registered PSResource repository's name (Get-PSResourceRepository), or a folder to publish into
    # (registered for the call only). Default: out/repository.
    [string] $Repository,

    # Publish: the feed's API key, for a NuGet feed that wants one (a file repository needs none).
    [string] $ApiKey
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
$PowerShellTests = Join-Path $Root 'tests/VirtioBlk.PowerShell.Tests'
# The tally of every runner and the apt helpers, in their own file so a test can run them.
. (Join-Path $Root 'tools/BuildSupport.ps1')
$KnownTasks = 'Build', 'Test', 'Package', 'Publish', 'Kernel', 'VmTest', 'VmRun', 'Clean'
# Tasks already run in this invocation: each runs at most once, whoever asks for it.
$script:Done = [System.Collections.Generic.HashSet[string]]::new()

# Debian packages. Host: a C compiler (the ABI layout test), losetup and mkfs (loop devices), openssh (the remoting
# test's own sshd on 127.0.0.1). The VM tier: QEMU and the kernel build's tools and source.
$HostPackages = 'gcc', 'libc6-dev', 'util-linux', 'e2fsprogs', 'openssh-server', 'openssh-client'
$VmPackages = 'qemu-system-x86', 'linux-source-6.12', 'build-essential', 'bc', 'flex', 'bison', 'libelf-dev', 'libssl-dev', 'cpio', 'xz-utils'

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

# Runs a task once per invocation; a second request (Package after Build, Test after Package) is a no-op.
function Invoke-Once([string] $Name, [scriptblock] $Body) {
    if (-not $script:Done.Add($Name)) {
        Write-Host "${Name}: already done in this run"
        return
    }
    & $Body
}

function Invoke-Build {
    Invoke-Once Build {
        # One build of the solution: MSBuild checks each shared project once, and builds independent ones side by side.
        Invoke-Native dotnet @('build', (Join-Path $Root 'VirtioBlk.slnx'), '-c', $Configuration, '--nologo', '-v', 'q') | Out-Null
        Invoke-HelpBuild
    }
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
    if (-not (Test-Path $PesterManifest)) { throw "Pester $PesterVersion is not at $PesterManifest after 'dotnet package download'" }
}

# The local pwsh tool (.config/dotnet-tools.json): the VM guest runs it from the NuGet cache.
function Install-PwshTool {
    Invoke-Once PwshTool { Invoke-Native dotnet @('tool', 'restore') | Out-Null }
}

# Everything the tests need, up front and once, so no test installs anything (or skips because another apt run
# held the lock meanwhile). A prerequisite that a suite cannot start without fails that suite, named in the summary.
function Install-TestPrerequisites([switch] $Vm, [switch] $HostTier) {
    $packages = @()
    if ($HostTier) { $packages += $HostPackages }
    if ($Vm) { $packages += $VmPackages }
    Invoke-Once "apt:$($packages -join ',')" { Install-AptPackages $packages }
    if ($Vm) {
        try { Install-PwshTool } catch { $script:Missing.Add("the pwsh tool for the guest ($($_.Exception.Message))") }
    }
    # Pester's absence stops its suites from starting; Invoke-Suite reports that when they try.
    try { Install-Pester } catch { Write-Host "Pester: $($_.Exception.Message)" }
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

# The cmdlets hosted in-process through the PowerShell SDK (binding, ErrorRecords, views at fixed widths).
function Invoke-PowerShellSdkTests {
    New-Item -ItemType Directory -Force $ResultsDir | Out-Null
    $report = Join-Path $ResultsDir 'powershell-sdk.xml'
    Remove-Item $report -ErrorAction Ignore
    $dll = Join-Path $PowerShellTests "bin/$Configuration/net10.0/VirtioBlk.PowerShell.Tests.dll"
    if (-not (Test-Path $dll)) { throw "$dll is missing (the build did not produce it)" }
    # The manifest the tests import: the checkout's, which points into out/bin.
    $env:VIRTIOBLK_MANIFEST = Join-Path $Root 'VirtioBlk.psd1'
    Invoke-Native dotnet @($dll, '-result-xml', $report) -AllowFailure | Out-Null
    Read-XunitReport $report 'xunit PowerShell SDK (host)'
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

function Invoke-KernelBuild {
    $lines = & bash (Join-Path $Root 'kernel/build-kernel.sh')
    if ($LASTEXITCODE -ne 0) { throw "kernel/build-kernel.sh exited with $LASTEXITCODE" }
    $image = @($lines)[-1]
    Write-Host "kernel: $image"
    return $image
}

function Invoke-Vm([string] $GuestCommand, [string] $KernelImage, [string] $Results, [string[]] $KernelArgs = @()) {
    $vmArgs = @((Join-Path $Root 'tests/vm/run-vm.sh'), '--kernel', $KernelImage)
    foreach ($a in $KernelArgs) { $vmArgs += @('--kernel-arg', $a) }
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
    # Every guest suite is expected: one that left no result did not start, and is named as such.
    Read-XunitReport (Join-Path $vmResults 'core-vm.xml') 'xunit (guest)'
    Read-SummaryLine (Join-Path $vmResults 'c-witness.txt') 'C witness (guest)'
    Read-SummaryLine (Join-Path $vmResults 'pester-vm.txt') 'pester (guest)'
    Read-SummaryLine (Join-Path $vmResults 'kernel-log-vm.txt') 'kernel log after pester (guest)'
    # Second boot, on the debug kernel (KASAN, lockdep): matrix, faults, removal; any kernel report fails.
    $debugImage = @(& bash (Join-Path $Root 'kernel/build-kernel.sh') --debug)[-1]
    if ($LASTEXITCODE -ne 0) { throw 'kernel/build-kernel.sh --debug failed' }
    # no5lvl: TCG's "-cpu max" offers LA57, and 6.12's identify_cpu() clears the boot CPU's capability words while it
    # re-reads them; an interrupt in that window sees pgtable_l5_enabled() false, so KASAN judges a 5-level direct-map
    # address "wild" (seen once in CI: "BUG: KASAN: wild-memory-access in rcu_is_watching" from identify_cpu at 2.3 s,
    # before any module code ran). 4-level paging takes that false report away and changes nothing the tests check.
    # acpi=noirq: under KASAN and lockdep the AML interpreter is so slow that every evaluation of QEMU's _PRT (a
    # While loop over 128 entries) hits ACPICA's 30 s loop timeout: ten of them made the boot 5 minutes and each
    # hot-plugged disk waited again. IRQ routing then comes from the BIOS's $PIR table; virtio uses MSI-X anyway,
    # and ACPI hot-plug (device_del/device_add) works as before. The boot takes 15 s.
    $rc = [Math]::Max($rc, (Invoke-Vm "bash tests/vm/guest-debug-tests.sh '$witness'" $debugImage "$vmResults-debug" @('no5lvl', 'acpi=noirq')))
    Read-SummaryLine (Join-Path "$vmResults-debug" 'debug-kernel.txt') 'debug kernel (guest)'
    if (Test-Path "$vmResults-debug/pester-debug.txt") {
        Read-SummaryLine "$vmResults-debug/pester-debug.txt" 'pester (debug kernel)'
        Read-SummaryLine "$vmResults-debug/kernel-log-debug.txt" 'kernel log after pester (debug kernel)'
    }
    if ($rc -ne 0 -and $script:Tally.Failed -eq 0) {
        Add-Tally 0 1 0 "VM tier (the guest exited $rc with no failed test)"
    }
}

function Invoke-Package {
    Invoke-Build
    Invoke-Once Package { New-ModulePackage }
}

function New-ModulePackage {
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

# Where Publish goes: a registered repository (by name), or a folder. Decided before any task runs, so a wrong
# -Repository fails at once rather than after a build.
function Resolve-PublishTarget {
    $target = if ($Repository) { $Repository } else { Join-Path $Out 'repository' }
    $registered = if ($target -notmatch '[/\\*?\[]') { Get-PSResourceRepository -Name $target -ErrorAction Ignore }
    if ($registered) { return [pscustomobject]@{ Name = $registered.Name; Uri = $registered.Uri; Folder = $null } }
    if (-not ($target -match '[/\\]' -or $target.StartsWith('.') -or (Test-Path -PathType Container $target))) {
        throw "-Repository '$target' is neither a registered PSResource repository (Get-PSResourceRepository) nor a folder; give a folder as a path (./$target) to publish into it."
    }
    [pscustomobject]@{ Name = $null; Uri = $null; Folder = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($target) }
}

# Publish-PSResource of the package into -Repository: a registered repository by name, or a folder (registered
# under a temporary name for this call only, so the user's repository list is left as it was).
function Invoke-Publish {
    Invoke-Package
    Invoke-Once Publish {
        $version = Get-Version
        $package = Join-Path $Out "VirtioBlk/$version"
        $destination = Resolve-PublishTarget
        $name = $destination.Name
        $folder = $destination.Folder
        $temporary = $null
        if ($folder) {
            New-Item -ItemType Directory -Force $folder | Out-Null
            $nupkg = Join-Path $folder "VirtioBlk.$version.nupkg"
            # The build's own folder is rebuilt at will; anyone else's keeps its versions (a feed never replaces one).
            if (-not $Repository) { Remove-Item $nupkg -ErrorAction Ignore }
            $temporary = "VirtioBlkBuild-$([guid]::NewGuid().ToString('N').Substring(0, 12))"
            Register-PSResourceRepository -Name $temporary -Uri $folder -Trusted
            $name = $temporary
        }
        try {
            $publish = @{ Path = $package; Repository = $name; ErrorAction = 'Stop' }
            if ($ApiKey) { $publish.ApiKey = $ApiKey }
            Publish-PSResource @publish
        }
        finally {
            if ($temporary) { Unregister-PSResourceRepository -Name $temporary }
        }
        if ($folder) {
            if (-not (Test-Path $nupkg)) { throw "Publish-PSResource reported success but $nupkg is missing" }
            Write-Host "publish: $nupkg"
        }
        else {
            Write-Host "publish: VirtioBlk $version to $name ($($destination.Uri))"
        }
    }
}

function Invoke-VmTier {
    Invoke-Once VmTest {
        Install-TestPrerequisites -Vm
        Invoke-Build
        Invoke-Suite 'VM tier' { Invoke-VmTests }
    }
}

# "Build,Package" arrives as one string through `pwsh -File`; split it, then check the names the ValidateSet would have.
$Task = @($Task | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })
$unknown = @($Task | Where-Object { $_ -notin $KnownTasks })
if ($unknown) { throw "Unknown task '$($unknown -join "', '")'. Tasks: $($KnownTasks -join ', ')." }
Write-Host "tasks: $($Task -join ', ')"
if ($Task -contains 'Publish') { $null = Resolve-PublishTarget }

$failed = $null
try {
    foreach ($t in $Task) {
        switch ($t) {
            'Clean' { Remove-Item -Recurse -Force $Out -ErrorAction Ignore; $script:Done.Clear() }
            'Build' { Invoke-Build }
            'Package' { Invoke-Package }
            'Publish' { Invoke-Publish }
            'Kernel' { Invoke-Once Kernel { Invoke-KernelBuild | Out-Null } }
            'VmRun' {
                $image = if ($Kernel) { (Resolve-Path $Kernel).Path } else { Invoke-KernelBuild }
                Install-PwshTool
                Invoke-Build
                $rc = Invoke-Vm $Command $image $null
                exit $rc
            }
            'VmTest' { Invoke-VmTier }
            'Test' {
                Invoke-Once Test {
                    Install-TestPrerequisites -HostTier -Vm:(-not $SkipVm)
                    # The Pester tests import the package in a fresh pwsh; Package builds first.
                    Invoke-Package
                    Invoke-Suite 'xunit (host)' { Invoke-CoreTests }
                    Invoke-Suite 'xunit PowerShell SDK (host)' { Invoke-PowerShellSdkTests }
                    Invoke-Suite 'pester (host)' { Invoke-PesterTests }
                    if ($SkipVm) { Write-Host 'VM tier skipped (-SkipVm)' } else { Invoke-VmTier }
                }
            }
        }
    }
}
catch {
    # A task that fails outright (a build error) ends the run; in a test run it is one more failure in the tally.
    $failed = $t
    Write-Host "${t}: $($_.Exception.Message)"
    if ($Task -contains 'Test' -or $Task -contains 'VmTest') { Add-NotStarted "task $t" $_.Exception.Message }
}

if ($script:Tally.Runners -gt 0) {
    if (-not (Write-TestSummary)) { exit 1 }
}
if ($failed) { exit 1 }
exit 0
