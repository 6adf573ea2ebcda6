#!/usr/bin/env bash
# Boot a test kernel under QEMU (TCG) with the host's root file system
# read-only over 9p and the project directory writable at the same path, two
# virtio-blk scratch disks, and run one command (or a shell) in the guest.
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
#   --disk-mib N    size of the file-backed disk (default 256)
#   --keep          keep the job directory (console log, disk image)
#
# Guest disks: /dev/vda = raw file image, serial "vbfile";
#              /dev/vdb = QEMU null-co device, 4 GiB, serial "vbnull".
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
	--keep) keep=1 ;;
	-h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		sleep 1
		kill -9 "$qemu_pid" 2>/dev/null || true
	fi
	if [ $keep = 1 ]; then log "job directory kept: $job"; else rm -rf "$job"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf '%s\n' "$command" >"$job/cmd.sh"
truncate -s "${disk_mib}M" "$job/disk.raw"

if [ -n "$results" ]; then
	mkdir -p "$results"
	results=$(cd "$results" && pwd)
	case $results in *[[:space:]]*) die "the results path contains white space: $results" ;; esac
fi

mode=command
[ $have_command = 1 ] || mode=shell
append="root=hostroot rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose ro"
append+=" console=ttyS0 quiet panic=-1 virtio_blk.poll_queues=1"
append+=" init=$here/guest-init.sh vbk_repo=$repo vbk_job=$job vbk_mode=$mode"
[ -z "$results" ] || append+=" vbk_results=$results"
[ -z "${NUGET_PACKAGES:-}" ] || append+=" vbk_nuget=$NUGET_PACKAGES"

args=(
	-accel tcg -cpu max -smp 2 -m "$memory" -no-reboot
	-kernel "$kernel" -append "$append"
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
	-virtfs local,path="$repo",mount_tag=project,security_model=none,multidevs=remap
	-virtfs local,path="$job",mount_tag=job,security_model=none,multidevs=remap
	-drive file="$job/disk.raw",if=none,id=vbfile,format=raw,cache=none,aio=threads
	-device virtio-blk-pci,drive=vbfile,serial=vbfile
	-blockdev driver=null-co,node-name=vbnull,size=4294967296
	-device virtio-blk-pci,drive=vbnull,serial=vbnull
	-nic none -display none
)
[ -z "$results" ] || args+=(-virtfs local,path="$results",mount_tag=results,security_model=none,multidevs=remap)

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
