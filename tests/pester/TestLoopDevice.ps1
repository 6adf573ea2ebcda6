# Loop devices for the host tests, dot-sourced by the *.Tests.ps1 files that need them. Each device sits over a
# /dev/shm file filled with seeded random bytes; Remove-TestLoop detaches it and deletes the file.

$script:CanMakeLoops = (& id -u) -eq '0' -and [bool](Get-Command losetup -ErrorAction Ignore) -and (Test-Path /dev/loop-control)
$script:NoLoopReason = 'needs root, losetup and /dev/loop-control to create loop devices'

function New-TestLoop {
    param(
        [long] $Size = 8MB,
        [int] $SectorSize = 512,
        [switch] $ReadOnly,
        # Write a one-partition MBR (type 0x83, from sector 2048 to the end) and scan it (losetup -P).
        [switch] $Partitioned
    )
    $file = "/dev/shm/vbpester-$([guid]::NewGuid().ToString('N').Substring(0, 12)).img"
    $bytes = [byte[]]::new($Size)
    [Random]::new($Size + $SectorSize).NextBytes($bytes)
    if ($Partitioned) {
        [Array]::Clear($bytes, 0, 512)
        $entry = 446
        $bytes[$entry + 4] = 0x83
        [BitConverter]::GetBytes([uint32] 2048).CopyTo($bytes, $entry + 8)
        [BitConverter]::GetBytes([uint32] ($Size / 512 - 2048)).CopyTo($bytes, $entry + 12)
        $bytes[510] = 0x55; $bytes[511] = 0xAA
    }
    [IO.File]::WriteAllBytes($file, $bytes)
    $arguments = @('--find', '--show', '--sector-size', $SectorSize)
    if ($ReadOnly) { $arguments += '--read-only' }
    if ($Partitioned) { $arguments += '--partscan' }
    $device = (& losetup @arguments $file 2>&1 | Out-String).Trim()
    if ($LASTEXITCODE -ne 0 -or -not $device.StartsWith('/dev/loop')) { Remove-Item $file; throw "losetup failed: $device" }
    $madeNode = $null
    if ($Partitioned) {
        # Without udev (containers) the kernel still registers the partition; make its node from sysfs.
        $sys = "/sys/class/block/$(Split-Path -Leaf $device)p1/dev"
        for ($i = 0; $i -lt 50 -and -not (Test-Path $sys); $i++) { Start-Sleep -Milliseconds 20 }
        if (-not (Test-Path "${device}p1") -and (Test-Path $sys)) {
            $major, $minor = (Get-Content $sys).Trim() -split ':'
            & mknod "${device}p1" b $major $minor
            if (-not $LASTEXITCODE) { $madeNode = "${device}p1" }
        }
    }
    [pscustomobject]@{ Path = $device; Name = Split-Path -Leaf $device; File = $file; Size = $Size; SectorSize = $SectorSize; MadeNode = $madeNode }
}

function Remove-TestLoop {
    param($Loop)
    if ($Loop) {
        if ($Loop.MadeNode) { Remove-Item -LiteralPath $Loop.MadeNode -ErrorAction Ignore }
        & losetup -d $Loop.Path 2>$null
        Remove-Item -LiteralPath $Loop.File -ErrorAction Ignore
    }
}

# Bytes of a device range as dd reads them (O_DIRECT, like the cmdlets), through a temp file.
function Read-WithDd {
    param([string] $Path, [long] $Sector, [long] $Sectors)
    $out = [IO.Path]::GetTempFileName()
    try {
        $unit = if ($Sector % 8 -eq 0 -and $Sectors % 8 -eq 0) { 8 } else { 1 }   # O_DIRECT: 4 KiB disks want 4 KiB units
        & dd "if=$Path" "of=$out" bs=$($unit * 512) "skip=$($Sector / $unit)" "count=$($Sectors / $unit)" iflag=direct status=none
        if ($LASTEXITCODE) { throw "dd read of $Path failed" }
        , [IO.File]::ReadAllBytes($out)
    }
    finally { Remove-Item $out }
}

# Writes bytes to a device range with dd (O_DIRECT, fsync), the reference the cmdlets' reads are checked against.
function Write-WithDd {
    param([string] $Path, [long] $Sector, [byte[]] $Bytes)
    $in = [IO.Path]::GetTempFileName()
    try {
        [IO.File]::WriteAllBytes($in, $Bytes)
        $unit = if ($Sector % 8 -eq 0 -and $Bytes.Length % 4096 -eq 0) { 8 } else { 1 }
        & dd "if=$in" "of=$Path" bs=$($unit * 512) "seek=$($Sector / $unit)" oflag=direct conv=notrunc,fsync status=none
        if ($LASTEXITCODE) { throw "dd write to $Path failed" }
    }
    finally { Remove-Item $in }
}

function New-Pattern {
    param([int] $Length, [int] $Seed)
    $bytes = [byte[]]::new($Length)
    [Random]::new($Seed).NextBytes($bytes)
    , $bytes
}

function Test-SameBytes {
    param([byte[]] $Expected, [byte[]] $Actual)
    $Expected.Length -eq $Actual.Length -and [System.Linq.Enumerable]::SequenceEqual($Expected, $Actual)
}
