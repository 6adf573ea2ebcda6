#!/bin/bash
# Runs inside the test VM: a disk removed (QMP device_del) while I/O runs on it at depth 32, on the
# plain and the polled passthrough path and the plain and polled block path. The I/O must end within
# 10 s (VBK_REMOVAL_BOUND_S) with an error (-ENODEV on passthrough), the disk must be gone, and after device_add it must
# work again. The kernel log is checked by the caller (guest-smoke.sh).
#   guest-removal.sh BINARY [SERIAL]     BINARY = tests/vm/c/build.sh's output; SERIAL default vbmq
# Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed".
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/vbk-disks.sh"
bin=${1:?usage: guest-removal.sh /path/to/vblk-passthru-test [SERIAL]}
serial=${2:-vbmq}
qmp=$here/vbk-qmp
pass=0 fail=0
# The bound is 10 s; the debug kernel's boot raises it (KASAN and lockdep under TCG run the PCI removal
# several times slower, and that boot is there for the kernel log, not the latency).
bound=${VBK_REMOVAL_BOUND_S:-10}
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [ -z "${VBK_JOB:-}" ] || [ ! -d "$VBK_JOB/qmp" ]; then
	echo "# no QMP request directory (\$VBK_JOB/qmp): not in run-vm.sh's VM"
	bad removal-needs-qmp
	echo "$pass passed, $fail failed"
	exit 1
fi

for mode in pt ptpoll block blockpoll; do
	t=removal-$serial-$mode
	d=$(vbk_wait_disk "$serial" 20) || { bad "$t-disk-present" "no disk with serial $serial"; continue; }
	case $mode in pt*) path=/dev/${d}c0 ;; *) path=/dev/$d ;; esac
	out=$(mktemp)
	"$bin" --load "$path" "$mode" 32 120 >"$out" 2>&1 &
	lp=$!
	for _ in $(seq 200); do grep -q '^load: running' "$out" && break; kill -0 $lp 2>/dev/null || break; sleep 0.1; done
	if ! grep -q '^load: running' "$out"; then
		bad "$t-load-runs" "$(tail -n 2 "$out" | tr '\n' ' ')"
		kill $lp 2>/dev/null; wait $lp 2>/dev/null; rm -f "$out"
		continue
	fi
	t0=$(now) up0=$(cut -d' ' -f1 /proc/uptime)
	resp=$("$qmp" device_del "$serial")
	qrc=$?
	[ $qrc = 0 ] && ok "$t-device-del" || bad "$t-device-del" "$resp"
	# Ends within the bound of the request, whatever was in flight.
	for _ in $(seq $(( bound * 10 ))); do kill -0 $lp 2>/dev/null || break; sleep 0.1; done
	if kill -0 $lp 2>/dev/null; then
		bad "$t-io-ends-within-${bound}s" "still running $(since "$t0") s after device_del"
		kill -9 $lp 2>/dev/null
	fi
	wait $lp
	lrc=$?
	line=$(grep '^load: .*: ' "$out" | tail -n 1)
	up_err=$(echo "$line" | sed -n 's/.*error at uptime \([0-9.]*\)$/\1/p')
	failed_after=$(awk -v a="$up0" -v b="${up_err:-0}" 'BEGIN { printf "%.1f", b - a }')
	echo "# $mode: $line (the I/O failed $failed_after s and ended $(since "$t0") s after device_del was sent)"
	# The first error, seen by the I/O itself, within the bound of the request (QEMU's DEVICE_DELETED, which
	# device_del waits for, can come much later on a loaded host).
	if [ -n "$up_err" ] && awk -v d="$failed_after" -v b="$bound" 'BEGIN { exit !(d >= 0 && d <= b) }'; then
		ok "$t-io-fails-within-${bound}s-of-device-del"
	else
		bad "$t-io-fails-within-${bound}s-of-device-del" "failed ${up_err:+$failed_after s after device_del}${up_err:-without an error time}"
	fi
	[ $lrc = 0 ] && ok "$t-io-ends-with-error" || bad "$t-io-ends-with-error" "exit $lrc: $line"
	case $mode in
	pt*) case $line in *"res -19 "*) ok "$t-passthrough-enodev" ;; *) bad "$t-passthrough-enodev" "$line" ;; esac ;;
	esac
	rm -f "$out"
	vbk_disk "$serial" >/dev/null && bad "$t-disk-gone" "still in /sys/block" || ok "$t-disk-gone"
	[ ! -e "$path" ] && ok "$t-node-gone" || bad "$t-node-gone" "$path still exists"

	resp=$("$qmp" device_add "$serial") && ok "$t-device-add" || bad "$t-device-add" "$resp"
	if d=$(vbk_wait_disk "$serial" 20); then
		case $mode in pt*) path=/dev/${d}c0 ;; *) path=/dev/$d ;; esac
		# Works again: two seconds of the same I/O without an error (exit 3: time ran out).
		line=$("$bin" --load "$path" "$mode" 8 2 2>&1)
		[ $? = 3 ] && ok "$t-works-after-device-add" || bad "$t-works-after-device-add" "$(echo "$line" | tail -n 1)"
	else
		bad "$t-back-after-device-add" "no disk with serial $serial after 20 s"
	fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
