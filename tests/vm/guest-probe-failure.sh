#!/bin/bash
# Runs inside the test VM on the debug kernel (failslab with a stack filter, KASAN): the probe error
# path of kernel/0001. A disk is added back (QMP device_add) with one slab allocation made inside
# virtblk_cdev_add() failing, so probe adds the disk and then tears it down again. Meanwhile the C
# witness holds the block device open (it opens the node in a tight loop, winning that window);
# once the virtio device is gone too (device_del), its HDIO_GETGEO must get -ENXIO: the teardown
# cleared vblk->vdev under vdev_mutex, as virtblk_remove() does. The previous patch did not, and
# the same ioctl read the freed virtio device (KASAN: slab-use-after-free in virtblk_getgeo).
# Afterwards, with nothing injected, device_add brings the disk back and it works.
#   guest-probe-failure.sh BINARY [SERIAL]     BINARY = tests/vm/c/build.sh's output; SERIAL default vbmq
# Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed".
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/vbk-disks.sh"
bin=${1:?usage: guest-probe-failure.sh /path/to/vblk-passthru-test [SERIAL]}
serial=${2:-vbmq}
qmp=$here/vbk-qmp
t=probe-failure-$serial
fs=/sys/kernel/debug/failslab
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ $fail = 0 ]; exit; }
disarm() { [ -w "$fs/probability" ] && echo 0 >"$fs/probability"; }
up() { cut -d' ' -f1 /proc/uptime; }
# The kernel log's records after sequence number $1 (/dev/kmsg numbers them; dmesg's line count
# would shift once the ring buffer wraps). With no argument: the last sequence number.
kmsg() { dd if=/dev/kmsg iflag=nonblock bs=65536 2>/dev/null; }
log_after() {
	if [ $# = 0 ]; then kmsg | awk -F, '$2 ~ /^[0-9]+$/ { s = $2 } END { print s + 0 }'; return; fi
	kmsg | awk -F, -v s="$1" '$2 ~ /^[0-9]+$/ && $2 + 0 > s + 0 { sub(/^[^;]*;/, ""); print }'
}

echo "# $t: starts at uptime $(up) s"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
if [ ! -d "$fs" ] || [ -z "${VBK_JOB:-}" ]; then
	bad "$t-prerequisites" "needs $fs (CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_STACKTRACE_FILTER) and run-vm.sh's QMP"
	finish
fi
# The filter: fail only an allocation with virtblk_cdev_add() on its stack (the address range from
# kallsyms up to the next symbol).
# kallsyms of built-in code is in address order.
read -r start end <<<"$(awk '
	hit && $1 != s { print "0x" s, "0x" $1; exit }
	$3 == "virtblk_cdev_add" { s = $1; hit = 1 }' /proc/kallsyms)"
if [ -z "$start" ] || [ "$start" = 0x0000000000000000 ]; then
	bad "$t-symbol" "virtblk_cdev_add is not in /proc/kallsyms (inlined, or no KALLSYMS)"
	finish
fi
ok "$t-symbol"

d=$(vbk_wait_disk "$serial" 20) || { bad "$t-disk-present" "no disk with serial $serial"; finish; }
devno=$(cat "/sys/block/$d/dev")
node=/dev/vbk-probe-node.$$ # not in /tmp: the guest mounts it nodev
go=/tmp/vbk-probe-go.$$
rm -f "$node" "$go"
mknod "$node" b "${devno%:*}" "${devno#*:}"
trap 'disarm; rm -f "$node" "$go"' EXIT
# Everything but the arming (probability) is set once.
disarm
echo N >"$fs/task-filter"
echo N >"$fs/ignore-gfp-wait"
echo 32 >"$fs/stacktrace-depth"
echo "$start" >"$fs/require-start"
echo "$end" >"$fs/require-end"
echo 2 >"$fs/verbose" # 2: with the stack, which must show virtblk_cdev_add
echo 1 >"$fs/interval"
echo -1 >"$fs/times" # every allocation there fails until disarmed (ida_alloc may not allocate at all)
echo "# symbol at $(up) s; device_del"
"$qmp" device_del "$serial" >/dev/null || { bad "$t-device-del" "the disk did not go"; finish; }
echo "# deleted at $(up) s"
# The disk comes back under the lowest free index: the one it had, so the same device number.
# Two openers, one pinned to each vCPU, so that one runs beside the probe's worker wherever it runs. A
# miss is possible (the disk is torn down before either gets in); then the device goes and comes again.
caught= failed= attempts=4
for attempt in $(seq $attempts); do
	rm -f "$go"
	pids=() outs=()
	for cpu in 0 1; do
		outs+=("$(mktemp)")
		taskset -c $cpu "$bin" --catch-open "$node" 120 "$go" >"${outs[-1]}" 2>&1 &
		pids+=($!)
	done
	echo 100 >"$fs/probability" # armed
	since=$(log_after)
	echo "# attempt $attempt: device_add at uptime $(up) s"
	"$qmp" device_add "$serial" >/dev/null || bad "$t-device-add-$attempt" "QMP refused device_add"
	failed=
	for _ in $(seq 300); do
		log_after "$since" | grep -q "probe with driver virtio_blk failed with error -12" && { failed=1; break; }
		sleep 0.2
	done
	disarm
	if [ -z "$failed" ]; then
		bad "$t-probe-fails" "no failed probe in 60 s: $(log_after "$since" | tail -n 3 | tr '\n' ' ')"
		kill "${pids[@]}" 2>/dev/null
		wait "${pids[@]}" 2>/dev/null
		break
	fi
	if [ $attempt = 1 ]; then
		# The fault was the one asked for: inside virtblk_cdev_add(), after the disk was added.
		log_after "$since" | grep -q 'virtblk_cdev_add' && ok "$t-fault-in-cdev-add" ||
			bad "$t-fault-in-cdev-add" "the injected failure's stack does not name virtblk_cdev_add"
		vbk_disk "$serial" >/dev/null && bad "$t-no-disk-after-failed-probe" "a disk with serial $serial is listed" ||
			ok "$t-no-disk-after-failed-probe"
	fi
	echo "# attempt $attempt: probe failed by $(up) s"
	sleep 2
	if grep -q '^catch: opened' "${outs[@]}"; then
		caught=1
	else
		echo "# attempt $attempt: both openers missed the window"
		kill "${pids[@]}" 2>/dev/null
		wait "${pids[@]}" 2>/dev/null
		rm -f "${outs[@]}"
	fi
	# The virtio device goes too (no driver holds it now), so its memory is freed.
	"$qmp" device_del "$serial" >/dev/null || { bad "$t-device-del-after-failure" "the device did not go"; break; }
	[ -n "$caught" ] && break
done
if [ -n "$caught" ]; then
	ok "$t-disk-opened-while-probe-ran"
	touch "$go"
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}"
		crc=$?
		sed 's/^/# /' "${outs[$i]}"
		# 2: this opener never got in (the other one did).
		[ $crc = 2 ] || { [ $crc = 0 ] && ok "$t-getgeo-enxio-after-teardown-$i" ||
			bad "$t-getgeo-enxio-after-teardown-$i" "$(tail -n 1 "${outs[$i]}")"; }
	done
	rm -f "${outs[@]}"
elif [ -n "$failed" ]; then
	bad "$t-disk-opened-while-probe-ran" "$attempts attempts, the openers never got in"
fi
if vbk_kernel_reports >/dev/null; then
	bad "$t-kernel-log-clean" "$(vbk_kernel_reports | head -n 3 | tr '\n' ' ')"
else
	ok "$t-kernel-log-clean"
fi

# Nothing injected: the disk comes back and works.
"$qmp" device_add "$serial" >/dev/null || bad "$t-device-add-clean" "QMP refused device_add"
if d=$(vbk_wait_disk "$serial" 30); then
	line=$("$bin" --load "/dev/$d" block 8 2 2>&1)
	[ $? = 3 ] && ok "$t-works-after-device-add" || bad "$t-works-after-device-add" "$(echo "$line" | tail -n 1)"
else
	bad "$t-back-after-device-add" "no disk with serial $serial after 30 s"
fi
finish
