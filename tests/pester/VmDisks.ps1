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
