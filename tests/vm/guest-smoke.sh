#!/bin/bash
# Runs inside the test VM (tests/vm/run-vm.sh --command ...): checks the disk matrix, that the
# passthrough kernel is the one booted, runs the C witness test on every disk (found by serial), the
# -EACCES check through setpriv, QEMU's counters of invalid requests, the removal test, and a clean
# kernel log.
#   guest-smoke.sh BINARY      BINARY = tests/vm/c/build.sh's output
# Prints "ok NAME" / "FAIL NAME" lines and a final "N passed, N failed".
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/vbk-disks.sh"
bin=${1:?usage: guest-smoke.sh /path/to/vblk-passthru-test}
serials="vbfile vbnull vb4k vbro vbfault vbmq"
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
# Adds up the "N passed, N failed" of a sub-suite whose other lines were printed already.
tally() { # NAME OUTPUT RC
	local p f
	echo "$2" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
	p=$(echo "$2" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -n 1)
	f=$(echo "$2" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -n 1)
	pass=$((pass + ${p:-0})) fail=$((fail + ${f:-0}))
	[ -n "$p" ] || bad "$1-summary" "exit $3, no summary line"
}
# The sum of QEMU's invalid-request counters over every disk (query-blockstats over QMP).
invalid_requests() {
	"$here/vbk-qmp" query-blockstats | grep -o '"invalid_[a-z]*_operations": *[0-9]*' |
		awk -F: '{ n += $2 } END { print n + 0 }'
}

out=$(bash "$here/guest-matrix.sh"); tally matrix "$out" $?

disks=()
for s in $serials; do
	if d=$(vbk_disk $s); then
		disks+=("$d")
		[ -c /dev/${d}c0 ] && ok "$s-c0-node" || bad "$s-c0-node" "/dev/${d}c0 missing"
	else
		bad "$s-c0-node" "no disk with serial $s"
	fi
done
v=$(cat /sys/module/virtio_blk/parameters/poll_queues 2>/dev/null)
[ "$v" = 1 ] && ok "poll_queues-param" || bad "poll_queues-param" "poll_queues=$v"

# The kernel refuses what the virtio spec forbids the driver to send: nothing the C test does may
# reach QEMU as an invalid request.
before=$(invalid_requests)
out=$("$bin" "${disks[@]}"); tally c-test "$out" $?
after=$(invalid_requests)
if [ -z "$before" ] || [ -z "$after" ]; then
	bad qemu-invalid-requests-0 "query-blockstats gave no counters"
elif [ "$after" = "$before" ] && [ "$after" = 0 ]; then
	ok qemu-invalid-requests-0
else
	bad qemu-invalid-requests-0 "QEMU counted $before invalid requests before the C test, $after after"
fi

# The documented way: an unprivileged user with no capabilities at all.
for d in "${disks[@]}"; do
	s=$(cat /sys/block/$d/serial)
	if [ ! -c /dev/${d}c0 ]; then
		bad "$s-nonroot-eacces-setpriv" "no /dev/${d}c0"
		continue
	fi
	mode=$(stat -c %a /dev/${d}c0)
	chmod 0666 /dev/${d}c0
	line=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$bin" --expect-eacces $d | grep -E '^(ok|FAIL) ')
	chmod "$mode" /dev/${d}c0
	case $line in ok\ *) ok "${line#ok }" ;; *) bad "${line:+${line#FAIL }}${line:-$s-nonroot-eacces-setpriv: no output}" ;; esac
done

# What one passthrough read costs (information, not a check).
if d=$(vbk_disk vbnull); then
	"$bin" --bench /dev/${d}c0 20000 | sed 's/^/# /'
fi

out=$(bash "$here/guest-removal.sh" "$bin"); tally removal "$out" $?

# Nothing the tests did may have upset the kernel: no warning, BUG, KASAN or lockdep report.
if vbk_kernel_reports >/dev/null; then
	bad kernel-log-clean "$(vbk_kernel_reports | head -3)"
	dmesg | grep -F -A 30 -- "$(vbk_kernel_reports | head -1)" | head -80 | sed 's/^/# /'
else
	ok kernel-log-clean
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
