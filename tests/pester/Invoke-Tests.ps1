#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the Pester tests of the VirtioBlk module in this process and ends with the plain summary line CI reads:
    "N passed, N failed, N skipped". Exits with the number of failed tests.
.DESCRIPTION
    Build first (dotnet build src/VirtioBlk.PowerShell), and run this in a new pwsh each time: a process that has
    loaded the module keeps the old assembly. Pester comes from NuGet into .tools/ (see docs in toolchain.md):
        dotnet package download Pester@5.7.1 --output .tools
.EXAMPLE
    NO_COLOR=1 dotnet pwsh -NoProfile -File tests/pester/Invoke-Tests.ps1
.EXAMPLE
    pwsh -NoProfile -File tests/pester/Invoke-Tests.ps1 -Tag VM -Path tests/pester/Faults.Vm.Tests.ps1
#>
param(
    # Pester's module manifest; by default the copy under .tools/.
    [string] $PesterPath = (Join-Path $PSScriptRoot '../../.tools/pester/5.7.1/tools/Pester.psd1'),
    # Only tests with these tags (CI by default).
    [string[]] $Tag = @('CI'),
    # Test files or folders to run (relative to the current directory); by default every file in this folder.
    [string[]] $Path = @($PSScriptRoot)
)

$ErrorActionPreference = 'Stop'
if ($env:NO_COLOR) { $PSStyle.OutputRendering = 'PlainText' }
# With stdout redirected and no terminal (the VM guest's serial console), pwsh reports a width of -1 and every
# Format-Table renders as nothing; give the tests' Out-String a width, as a terminal would.
if ($Host.UI.RawUI.BufferSize.Width -le 0) { $global:PSDefaultParameterValues['Out-String:Width'] = 160 }
Import-Module (Resolve-Path $PesterPath).Path

$configuration = New-PesterConfiguration
$configuration.Run.Path = @($Path | ForEach-Object { (Resolve-Path $_).Path })
$configuration.Run.PassThru = $true
$configuration.Filter.Tag = $Tag
$configuration.Output.Verbosity = 'Detailed'
$result = Invoke-Pester -Configuration $configuration

"$($result.PassedCount) passed, $($result.FailedCount) failed, $($result.SkippedCount) skipped"
exit $result.FailedCount
