# Dot-source in VM tests (. "$PSScriptRoot/VmDisks.ps1"): the test VM's disks by serial, never by letter, and QMP
# requests to the host (tests/vm/README.md has the disk table and the request protocol). Outside the VM every function
# answers $null, so a test can skip with a reason.

# The disk with this serial: Serial, Name (vda...), BlockPath, CharDevicePath; $null when there is none.
function Get-VbkGuestDisk([Parameter(Mandatory)] [string] $Serial) {
    foreach ($f in Get-ChildItem -Path /sys/block/vd*/serial -ErrorAction Ignore) {
        if ((Get-Content -Raw $f.FullName).Trim() -ceq $Serial) {
            $name = $f.Directory.Name
            return [pscustomobject]@{ Serial = $Serial; Name = $name; BlockPath = "/dev/$name"; CharDevicePath = "/dev/${name}c0" }
        }
    }
    $null
}

# Waits until the disk with this serial is there (with its char device), or with -Gone until it is not; $true if so.
function Wait-VbkGuestDisk([Parameter(Mandatory)] [string] $Serial, [double] $TimeoutSeconds = 20, [switch] $Gone) {
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    do {
        $d = Get-VbkGuestDisk $Serial
        if ($Gone -and -not $d) { return $true }
        if (-not $Gone -and $d -and (Test-Path $d.CharDevicePath)) { return $true }
        Start-Sleep -Milliseconds 100
    } while ([DateTime]::UtcNow -lt $deadline)
    $false
}

# $true when the host answers QMP requests (the guest of tests/vm/run-vm.sh).
function Test-VbkQmp { [bool] ($env:VBK_JOB -and (Test-Path (Join-Path $env:VBK_JOB 'qmp'))) }

# One QMP request through tests/vm/vbk-qmp: 'device_del vbmq', 'device_add vbmq', 'query-blockstats', 'quit', or a
# JSON command. Returns QEMU's answer as an object (its .return); throws with QEMU's error text otherwise.
# device_del returns once QEMU reports the device deleted, i.e. once this guest let it go.
function Invoke-VbkQmp([Parameter(Mandatory)] [string] $Request, [int] $TimeoutSeconds = 60) {
    if (-not (Test-VbkQmp)) { throw 'no QMP: this runs in the test VM of tests/vm/run-vm.sh ($env:VBK_JOB/qmp)' }
    $env:VBK_QMP_TIMEOUT = "$TimeoutSeconds"
    $line = & bash (Join-Path $PSScriptRoot '../vm/vbk-qmp') $Request 2>&1 | Select-Object -Last 1
    $rc = $LASTEXITCODE
    if ($rc -eq 2) { throw "QMP '$Request': $line" }
    $answer = "$line" | ConvertFrom-Json
    if ($rc -ne 0 -or -not $answer.PSObject.Properties['return']) { throw "QMP '$Request': $($answer.error.desc ?? $line)" }
    $answer.return
}

# QEMU's block statistics (query-blockstats) of the disk with this serial: flush_operations, rd_operations,
# invalid_rd_operations, failed_wr_operations, ... Each disk's device id is its serial.
function Get-VbkBlockStats([Parameter(Mandatory)] [string] $Serial) {
    $all = Invoke-VbkQmp 'query-blockstats'
    $entry = $all | Where-Object { $_.qdev -eq "/machine/peripheral/$Serial/virtio-backend" -or $_.qdev -eq $Serial -or $_.'node-name' -eq $Serial } |
        Select-Object -First 1
    if (-not $entry) { throw "query-blockstats has no disk $Serial" }
    $entry.stats
}

# New-Pattern and Test-SameBytes, the same as the host tests use.
. "$PSScriptRoot/TestLoopDevice.ps1"

# The disk with this serial as Get-VirtioBlkDevice lists it now (a removed and re-added disk may have another
# name), or $null after marking the test skipped with the reason.
function Get-FaultDisk([string] $Serial, [switch] $Qmp) {
    $d = Get-VirtioBlkDevice -ErrorAction SilentlyContinue | Where-Object Serial -EQ $Serial | Select-Object -First 1
    if (-not $d) { Set-ItResult -Skipped -Because "no virtio disk with serial $Serial (runs in the test VM: build.ps1 -Task VmTest)"; return $null }
    if (-not $d.PassthroughAvailable) { Set-ItResult -Skipped -Because "$($d.Name) has no passthrough char device"; return $null }
    if ($Qmp -and -not (Test-VbkQmp)) { Set-ItResult -Skipped -Because 'no QMP requests to the host ($env:VBK_JOB/qmp): runs in the VM of tests/vm/run-vm.sh'; return $null }
    $d
}

# Runs $Script, returning what it output, its error records and its warnings apart, without stopping on either.
function Invoke-Captured([scriptblock] $Script) {
    $ErrorActionPreference = 'Continue'
    $WarningPreference = 'Continue'
    $all = @(& $Script 2>&1 3>&1)
    [pscustomobject]@{
        Output = @($all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] -and $_ -isnot [System.Management.Automation.WarningRecord] })
        Errors = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        Warnings = @($all | Where-Object { $_ -is [System.Management.Automation.WarningRecord] })
    }
}

# "sectors A..B" in an error message, as numbers.
function Get-NamedSectorRange([string] $Text) {
    if ($Text -match 'sectors (\d+)\.\.(\d+)') { return [pscustomobject]@{ First = [uint64]$Matches[1]; Last = [uint64]$Matches[2] } }
    $null
}

# This process's open fds as "N -> TARGET" (anon_inode:[io_uring] for a ring, /dev/vdX for a disk).
function Get-FdTargets {
    foreach ($f in Get-ChildItem /proc/self/fd -ErrorAction Ignore) {
        $t = try { $f.LinkTarget } catch { $null }
        if ($t) { "$($f.Name) -> $t" }
    }
}

# The rings this process has open now that it did not have in $Before (fd numbers with the same target are
# the same ring: an old ring that is closed meanwhile does not hide a new one).
function Get-NewRings([string[]] $Before) {
    @(Get-FdTargets | Where-Object { $_ -like '*io_uring*' -and $_ -notin $Before })
}
