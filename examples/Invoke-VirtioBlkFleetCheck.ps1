#Requires -Version 7.4
<#
.SYNOPSIS
    Runs examples/VirtioBlk.Checks.Tests.ps1 on many VMs at once through PowerShell remoting and returns one row per
    VM and check.
.DESCRIPTION
    The suite's text and the thresholds travel with the command (Invoke-Command with $using:), so nothing has to be
    copied to the VMs beyond the VirtioBlk module and Pester 5 themselves. Rows carry PSComputerName, the check,
    its result and the failure message; aggregate them with Group-Object / Where-Object.
.EXAMPLE
    ./Invoke-VirtioBlkFleetCheck.ps1 -HostName (Get-Content vms.txt) -ThrottleLimit 32 | Where-Object Result -ne Passed
.EXAMPLE
    ./Invoke-VirtioBlkFleetCheck.ps1 -HostName vm01, vm02 -ConfigurationPath ./db-vms.psd1 | Group-Object Result -NoElement
.EXAMPLE
    $s = New-PSSession -HostName vm01, vm02 -UserName admin
    ./Invoke-VirtioBlkFleetCheck.ps1 -Session $s
#>
[CmdletBinding(DefaultParameterSetName = 'HostName')]
param(
    # The VMs, over SSH remoting.
    [Parameter(Mandatory, ParameterSetName = 'HostName')] [string[]] $HostName,
    # Or open sessions.
    [Parameter(Mandatory, ParameterSetName = 'Session')] [System.Management.Automation.Runspaces.PSSession[]] $Session,
    # More New-PSSession parameters for -HostName: UserName, Port, KeyFilePath, Options, ...
    [Parameter(ParameterSetName = 'HostName')] [hashtable] $RemotingParameters = @{},
    # How many VMs run at once.
    [int] $ThrottleLimit = 32,
    # The thresholds.
    [string] $ConfigurationPath = (Join-Path $PSScriptRoot 'VirtioBlk.Checks.psd1'),
    # Keys that override the data file (e.g. @{ ModulePath = '/opt/VirtioBlk/VirtioBlk.psd1' }).
    [hashtable] $Configuration = @{},
    # Pester on the VMs: a module name or a manifest path there.
    [string] $PesterModule = 'Pester'
)

$suite = Get-Content -Raw -LiteralPath (Join-Path $PSScriptRoot 'VirtioBlk.Checks.Tests.ps1')
$config = Import-PowerShellDataFile -LiteralPath $ConfigurationPath
foreach ($k in @($Configuration.Keys)) { $config[$k] = $Configuration[$k] }

$remote = {
    $ErrorActionPreference = 'Stop'
    Import-Module $using:PesterModule -MinimumVersion 5.0 -ErrorAction Stop
    $container = New-PesterContainer -ScriptBlock ([scriptblock]::Create($using:suite)) -Data @{ Configuration = $using:config }
    $pesterConfig = New-PesterConfiguration
    $pesterConfig.Run.Container = $container
    $pesterConfig.Run.PassThru = $true
    $pesterConfig.Output.Verbosity = 'None'
    $result = Invoke-Pester -Configuration $pesterConfig
    foreach ($t in $result.Tests) {
        [pscustomobject]@{
            PSTypeName = 'VirtioBlk.CheckResult'
            Check      = $t.ExpandedPath
            Result     = [string] $t.Result
            Message    = if ($t.ErrorRecord) { ($t.ErrorRecord | Select-Object -First 1).Exception.Message } elseif ($t.Result -eq 'Skipped') { $t.SkippedBecause ?? '' } else { '' }
            Seconds    = [math]::Round($t.Duration.TotalSeconds, 2)
        }
    }
    if ($result.Containers | Where-Object Result -EQ 'Failed' | Where-Object { -not $result.Tests.Count }) {
        throw "the suite failed before any check ran: $($result.Containers[0].ErrorRecord)"
    }
}

# Over SSH, Invoke-Command takes -ThrottleLimit only with -Session: open the sessions first (a VM that cannot be
# reached is reported as an error and left out), run on them, and close what was opened here.
$own = $PSCmdlet.ParameterSetName -eq 'HostName'
if ($own) { $Session = @(New-PSSession -HostName $HostName @RemotingParameters) }
try {
    if ($Session) { Invoke-Command -Session $Session -ThrottleLimit $ThrottleLimit -ScriptBlock $remote }
}
finally {
    if ($own -and $Session) { $Session | Remove-PSSession }
}
