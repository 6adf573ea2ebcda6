# What build.ps1 shares with its tests, dot-sourced by build.ps1: the tally of every test runner with its closing
# summary, and apt-get that waits for the dpkg lock. tests/pester/Build.Tests.ps1 runs these functions in a child
# pwsh, as build.ps1 does.

# Tallies of every runner, for the closing line; Suites keeps one line per runner for the summary above it.
$script:Tally = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; Runners = 0 }
$script:Suites = [System.Collections.Generic.List[string]]::new()
# Prerequisites that could not be installed: said in the summary (the tests that need them skip with the reason).
$script:Missing = [System.Collections.Generic.List[string]]::new()

function Add-Tally([int] $Passed, [int] $Failed, [int] $Skipped, [string] $Runner) {
    $script:Tally.Passed += $Passed
    $script:Tally.Failed += $Failed
    $script:Tally.Skipped += $Skipped
    $script:Tally.Runners++
    $line = "[$Runner] $Passed passed, $Failed failed, $Skipped skipped"
    $script:Suites.Add($line)
    Write-Host $line
}

# A suite that could not start counts as one failure, named with its reason, so a missing runner cannot pass.
function Add-NotStarted([string] $Runner, [string] $Reason) {
    $script:Tally.Failed++
    $script:Tally.Runners++
    $line = "[$Runner] did not start: $Reason"
    $script:Suites.Add($line)
    Write-Host $line
}

# Runs one suite; whatever stops it from starting (a prerequisite, a missing build output) is recorded, not fatal,
# so the other suites still run and the summary says what happened.
function Invoke-Suite([string] $Runner, [scriptblock] $Body) {
    try { & $Body }
    catch { Add-NotStarted $Runner $_.Exception.Message }
}

# Reads an xunit v3 XML report; a missing report counts as one failure, so a crashed runner cannot pass.
function Read-XunitReport([string] $Path, [string] $Runner) {
    if (-not (Test-Path $Path)) {
        Add-NotStarted $Runner "no report at $Path"
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

# Reads the last "N passed, N failed[, N skipped]" line a runner printed; none counts as a failure.
function Read-SummaryLine([string] $Path, [string] $Runner) {
    $line = if (Test-Path $Path) { Get-Content $Path | Where-Object { $_ -match '^\s*(\d+) passed, (\d+) failed(, (\d+) skipped)?\s*$' } | Select-Object -Last 1 }
    if (-not $line) {
        # Say why: the runner's last words (an import that failed, a crash) are the likeliest reason.
        $last = if (Test-Path $Path) { Get-Content $Path | Where-Object { $_.Trim() } | Select-Object -Last 1 }
        Add-NotStarted $Runner ($(if (-not (Test-Path $Path)) { "no output at $Path" } else { "no summary line in $Path; it ended with: $last" }))
        return
    }
    $null = $line -match '^\s*(\d+) passed, (\d+) failed(, (\d+) skipped)?'
    Add-Tally ([int]$Matches[1]) ([int]$Matches[2]) ([int]($Matches[4] ?? 0)) $Runner
}

# The closing summary: one line per runner (a suite that did not start, with its reason), what could not be
# installed, then "N passed, N failed, N skipped" as the very last line, the one CI reads. False when the run failed
# or ran nothing.
function Write-TestSummary {
    $t = $script:Tally
    Write-Host ''
    Write-Host 'summary:'
    foreach ($line in $script:Suites) { Write-Host "  $line" }
    foreach ($m in $script:Missing) { Write-Host "  not installed: $m" }
    # Write-Host, not output: the caller takes the return value, and the line must reach stdout all the same.
    Write-Host "$($t.Passed) passed, $($t.Failed) failed, $($t.Skipped) skipped"
    return -not ($t.Failed -gt 0 -or ($t.Passed + $t.Skipped) -eq 0)
}

# apt-get, waiting for the dpkg lock (another apt run, unattended-upgrades) instead of failing at once.
function Invoke-Apt([string[]] $Arguments) {
    $aptArgs = @('-o', 'DPkg::Lock::Timeout=600', '-o', 'Acquire::Retries=3') + $Arguments
    $deadline = [DateTime]::UtcNow.AddSeconds(600)
    while ($true) {
        $output = & apt-get @aptArgs 2>&1 | Out-String
        if ($LASTEXITCODE -eq 0) { return }
        # 'apt-get update' takes the lists lock, which DPkg::Lock::Timeout does not cover: wait for it here.
        if ($output -match 'Could not get lock|Unable to lock' -and [DateTime]::UtcNow -lt $deadline) {
            Write-Host 'apt: another apt/dpkg holds the lock; waiting'
            Start-Sleep -Seconds 5
            continue
        }
        throw "apt-get $($Arguments -join ' ') exited with ${LASTEXITCODE}: $(($output.Trim() -split "`n")[-1])"
    }
}

# Installs the Debian packages not yet installed, once per invocation. Where that cannot be done (not root, no
# apt-get) it is said in the summary, and the tests that need them skip with their reason.
function Install-AptPackages([string[]] $Packages) {
    $missing = @($Packages | Where-Object {
            -not ((& dpkg-query -W -f='${Status}' $_ 2>$null) -match 'install ok installed')
        })
    if (-not $missing) { return }
    if (-not (Get-Command apt-get -ErrorAction Ignore)) { $script:Missing.Add("$($missing -join ' ') (no apt-get)"); return }
    if ((& id -u) -ne '0') { $script:Missing.Add("$($missing -join ' ') (apt-get needs root)"); return }
    Write-Host "apt: installing $($missing -join ' ')"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    # openssh-server is only for the remoting test's own sshd on loopback: keep the package from starting a system
    # sshd (policy-rc.d exit 101 = "do not start services"), and put back whatever policy was there.
    $policy = '/usr/sbin/policy-rc.d'
    $saved = if (Test-Path $policy) { Get-Content -Raw $policy } else { $null }
    try {
        Set-Content -Path $policy -Value "#!/bin/sh`nexit 101`n" -NoNewline
        & chmod +x $policy
        try { Invoke-Apt (@('install', '-y', '-qq', '--no-install-recommends') + $missing) }
        catch {
            # A fresh machine's package lists may be empty or stale: update once, then try again.
            Invoke-Apt @('update', '-qq')
            Invoke-Apt (@('install', '-y', '-qq', '--no-install-recommends') + $missing)
        }
    }
    catch { $script:Missing.Add("$($missing -join ' ') ($($_.Exception.Message))") }
    finally {
        if ($null -ne $saved) { Set-Content -Path $policy -Value $saved -NoNewline } else { Remove-Item $policy -ErrorAction Ignore }
    }
}

