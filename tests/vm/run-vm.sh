#!/usr/bin/env bash
# Boot a test kernel under QEMU (TCG) with the host's root file system
# read-only over 9p and the project directory writable at the same path, six
# virtio-blk scratch disks (tests/vm/README.md), and run one command (or a
# shell) in the guest.
#
# Usage: tests/vm/run-vm.sh [options] [--command '<shell command>']
#   --command CMD   run CMD with bash in the project directory; the script's
#                   exit code is CMD's (no command: interactive shell)
#   --kernel FILE   bzImage to boot (default: kernel/build-kernel.sh's, which
#                   builds it if it is not cached)
#   --timeout S     kill QEMU after S seconds and fail with 124
#                   (default 900 with --command, none for the shell)
#   --results DIR   host directory shared writable at the same path in the
#                   guest; the command sees it as $VBK_RESULTS
#   --memory MIB    guest memory (default 2048)
#   --disk-mib N    size of the vbfile disk (default 256)
#   --kernel-arg A  add A to the kernel command line (repeatable), e.g.
#                   virtio_blk.passthru_rw_only=1
#   --keep          keep the job directory (console log, disk images)
#
# Guest disks, by serial (look them up in /sys/block/*/serial, never by
# letter): vbfile (256 MiB file), vbnull (null-co, 16 TiB), vb4k (64 MiB,
# 4096-byte blocks), vbro (64 MiB, read-only), vbfault (64 MiB, blkdebug:
# reads of sectors 2048..2055 and writes of 4096..4103 fail with EIO), vbmq
# (64 MiB, num-queues=2).  QMP: $job/qmp.sock; the guest asks for commands
# with tests/vm/vbk-qmp (requests in $VBK_JOB/qmp/, see tests/vm/README.md).
# Kernel arguments include virtio_blk.poll_queues=1.
# Exit codes: the command's; 124 timeout; 125 the guest did not report one.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
command=
have_command=0
kernel=
timeout=
results=
memory=2048
disk_mib=256
keep=0
kernel_args=()

die() { printf 'run-vm: error: %s\n' "$*" >&2; exit 2; }
log() { printf 'run-vm: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--command) command=${2?--command needs an argument}; have_command=1; shift ;;
	--kernel) kernel=${2:?--kernel needs a file}; shift ;;
	--timeout) timeout=${2:?--timeout needs seconds}; shift ;;
	--results) results=${2:?--results needs a directory}; shift ;;
	--memory) memory=${2:?}; shift ;;
	--disk-mib) disk_mib=${2:?}; shift ;;
	--kernel-arg) kernel_args+=("${2:?--kernel-arg needs an argument}"); shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done

qemu=$(command -v qemu-system-x86_64 || true)
if [ -z "$qemu" ]; then
	[ "$(id -u)" = 0 ] || die "qemu-system-x86_64 is missing"
	log "installing qemu-system-x86"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-system-x86 >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-system-x86 >&2; }
	qemu=$(command -v qemu-system-x86_64) || die "could not install QEMU"
fi

if [ -z "$kernel" ]; then
	kernel=$("$repo/kernel/build-kernel.sh" | tail -n1)
fi
[ -r "$kernel" ] || die "no kernel at $kernel"
if [ $have_command = 0 ]; then
	[ -t 0 ] || die "no --command and stdin is not a terminal (an interactive shell needs one)"
elif [ -z "$timeout" ]; then
	timeout=900
fi
case $timeout in ''|*[!0-9]*) [ -z "$timeout" ] || die "--timeout wants whole seconds" ;; esac

# Paths go on the kernel command line, which splits at spaces.
case $repo in *[[:space:]]*) die "the project path contains white space: $repo" ;; esac

# The job directory must be visible in the guest through the root share, and
# not under /tmp (the guest mounts a tmpfs there).
job_root=${VBK_VM_JOB_ROOT:-/var/tmp}
job=$(mktemp -d "$job_root/virtioblk-vm.XXXXXX")
qemu_pid=
broker_pid=
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		sleep 1
		kill -9 "$qemu_pid" 2>/dev/null || true
	fi
	if [ -n "$broker_pid" ]; then
		kill "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	if [ $keep = 1 ]; then log "job directory kept: $job"; else rm -rf "$job"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf '%s\n' "$command" >"$job/cmd.sh"
for f in disk vb4k vbro vbfault vbmq; do
	[ $f = disk ] && size=${disk_mib}M || size=64M
	truncate -s "$size" "$job/$f.raw"
done
mkdir -p "$job/qmp"

if [ -n "$results" ]; then
	mkdir -p "$results"
	results=$(cd "$results" && pwd)
	case $results in *[[:space:]]*) die "the results path contains white space: $results" ;; esac
fi

mode=command
[ $have_command = 1 ] || mode=shell
append="root=hostroot rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose ro"
append+=" console=ttyS0 quiet panic=-1 virtio_blk.poll_queues=1"
# On a loaded host TCG is too slow for the IO-APIC timer check, which then
# panics at boot ("IO-APIC + timer doesn't work"); the guest needs no check.
append+=" no_timer_check"
for a in "${kernel_args[@]}"; do
	case $a in *[[:space:]]*) die "--kernel-arg with white space: $a" ;; esac
	append+=" $a"
done
append+=" init=$here/guest-init.sh vbk_repo=$repo vbk_job=$job vbk_mode=$mode"
[ -z "$results" ] || append+=" vbk_results=$results"
[ -z "${NUGET_PACKAGES:-}" ] || append+=" vbk_nuget=$NUGET_PACKAGES"

args=(
	-accel tcg -cpu max -smp 2 -m "$memory" -no-reboot
	-kernel "$kernel" -append "$append"
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
	-virtfs local,path="$repo",mount_tag=project,security_model=none,multidevs=remap
	-virtfs local,path="$job",mount_tag=job,security_model=none,multidevs=remap
	-qmp unix:"$job/qmp.sock",server=on,wait=off
	-nic none -display none
)

# The disk matrix.  Each disk is a -blockdev node (which, unlike -drive,
# survives device_del, so device_add can bring the disk back) and a
# virtio-blk-pci device; node name, device id and serial are all the serial.
# $job/devices lists each device's device_add arguments for the QMP broker.
file_node() { # NODE IMAGE [READ_ONLY]
	printf '{"driver":"raw","node-name":"%s","read-only":%s,"cache":{"direct":true},' "$1" "${3:-false}"
	printf '"file":{"driver":"file","filename":"%s","aio":"threads","read-only":%s,"cache":{"direct":true}}}' "$2" "${3:-false}"
}
# blkdebug activates its rules on the raw layer's read_aio/write_aio events and
# keeps only the set of the last event: every rule is registered for both, so
# a read racing with a write still meets its rules.  One rule per sector.
fault_node() { # NODE IMAGE
	local rules= ev io s
	for ev in read_aio write_aio; do
		for io in read:2048 write:4096; do
			for s in $(seq "${io#*:}" $(( ${io#*:} + 7 ))); do
				rules+="${rules:+,}{\"event\":\"$ev\",\"iotype\":\"${io%%:*}\",\"sector\":$s,\"errno\":5,\"immediately\":true}"
			done
		done
	done
	printf '{"driver":"raw","node-name":"%s","cache":{"direct":true},' "$1"
	printf '"file":{"driver":"blkdebug","inject-error":[%s],' "$rules"
	printf '"image":{"driver":"file","filename":"%s","aio":"threads","cache":{"direct":true}}}}' "$2"
}
: >"$job/devices"
add_disk() { # SERIAL BLOCKDEV_JSON [DEVICE_PROPERTIES]
	local props="drive=$1,id=$1,serial=$1${3:+,$3}" json p
	args+=(-blockdev "$2" -device "virtio-blk-pci,$props")
	json="\"driver\":\"virtio-blk-pci\""
	for p in ${props//,/ }; do
		# QMP wants JSON types: numbers and booleans unquoted.
		case ${p#*=} in
		on) json+=",\"${p%%=*}\":true" ;;
		off) json+=",\"${p%%=*}\":false" ;;
		''|*[!0-9]*) json+=",\"${p%%=*}\":\"${p#*=}\"" ;;
		*) json+=",\"${p%%=*}\":${p#*=}" ;;
		esac
	done
	printf '%s\t{%s}\n' "$1" "$json" >>"$job/devices"
}
add_disk vbfile "$(file_node vbfile "$job/disk.raw")"
add_disk vbnull '{"driver":"null-co","node-name":"vbnull","size":17592186044416}'
add_disk vb4k "$(file_node vb4k "$job/vb4k.raw")" logical_block_size=4096,physical_block_size=4096
add_disk vbro "$(file_node vbro "$job/vbro.raw" true)"
# request-merging=off: QEMU would otherwise merge a neighbour into a failing
# request and fail it too.
add_disk vbfault "$(fault_node vbfault "$job/vbfault.raw")" request-merging=off
add_disk vbmq "$(file_node vbmq "$job/vbmq.raw")" num-queues=2
[ -z "$results" ] || args+=(-virtfs local,path="$results",mount_tag=results,security_model=none,multidevs=remap)

# Answers the guest's QMP requests (tests/vm/vbk-qmp) until QEMU goes away.
perl "$here/qmp-broker.pl" "$job/qmp.sock" "$job/qmp" "$job/devices" 2>>"$job/qmp.log" &
broker_pid=$!

start=$(date +%s.%N)
if [ $mode = shell ]; then
	log "interactive shell; Ctrl-A X quits QEMU"
	if [ -n "$timeout" ]; then
		rc=0
		timeout --foreground -k 5 "$timeout" "$qemu" "${args[@]}" -serial mon:stdio || rc=$?
		if [ $rc = 124 ]; then
			log "TIMEOUT after ${timeout}s: QEMU killed"
			exit 124
		fi
		exit $rc
	fi
	"$qemu" "${args[@]}" -serial mon:stdio
	exit 0
fi

log "booting $(basename "$(dirname "$kernel")")/$(basename "$kernel"), timeout ${timeout}s"
console=$job/console.log
: >"$console"
"$qemu" "${args[@]}" -monitor none -serial file:"$console" </dev/null >"$job/qemu.log" 2>&1 &
qemu_pid=$!

# Stream the guest's output (from the begin marker on) while QEMU runs.
# The console has CRLF line ends and may carry escape codes.
clean() { sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g'; }
tail -n +1 -F --pid="$qemu_pid" "$console" 2>/dev/null | clean |
	sed -u -n '/^=== vbk: begin ===$/,/^=== vbk: exit [0-9]* ===$/p' |
	grep -a --line-buffered -v -E '^=== vbk: (begin|exit [0-9]+) ===$' &
stream_pid=$!

timed_out=0
deadline=$(( $(date +%s) + timeout ))
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ "$(date +%s)" -ge "$deadline" ]; then
		timed_out=1
		kill "$qemu_pid" 2>/dev/null || true
		sleep 1
		kill -9 "$qemu_pid" 2>/dev/null || true
		break
	fi
	sleep 0.2
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
wait "$stream_pid" 2>/dev/null || true
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

clean <"$console" >"$job/console.txt"
rc=$(sed -n 's/^=== vbk: exit \([0-9]*\) ===$/\1/p' "$job/console.txt" | tail -n1)
[ -n "$rc" ] || rc=$(cat "$job/rc" 2>/dev/null || true)
[ -z "$results" ] || cp "$job/console.txt" "$results/console.log"
[ -z "$results" ] || [ ! -s "$job/qmp.log" ] || cp "$job/qmp.log" "$results/qmp.log"

if [ $timed_out = 1 ]; then
	log "TIMEOUT after ${timeout}s: QEMU killed. Console tail:"
	tail -n 40 "$job/console.txt" >&2
	exit 124
fi
if [ -z "$rc" ]; then
	log "the guest reported no exit code (after ${elapsed}s). Console:"
	tail -n 60 "$job/console.txt" >&2
	[ ! -s "$job/qemu.log" ] || { log "QEMU said:"; cat "$job/qemu.log" >&2; }
	exit 125
fi
if ! grep -qx '=== vbk: begin ===' "$job/console.txt"; then
	log "the guest failed before running the command. Console:"
	tail -n 60 "$job/console.txt" >&2
fi
log "guest command exited $rc after ${elapsed}s"
exit "$rc"
