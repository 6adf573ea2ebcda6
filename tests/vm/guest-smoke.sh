#!/bin/bash
# Runs inside the test VM (tests/vm/run-vm.sh --command ...): checks that the
# passthrough kernel is the one booted, then runs the C witness test on every
# virtio disk, plus the -EACCES check through setpriv.
#   guest-smoke.sh BINARY      BINARY = tests/vm/c/build.sh's output
# Prints "ok NAME" / "FAIL NAME" lines and a final "N passed, N failed".
bin=${1:?usage: guest-smoke.sh /path/to/vblk-passthru-test}
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }

for d in vda vdb; do
	[ -c /dev/${d}c0 ] && ok "$d-c0-node" || bad "$d-c0-node" "/dev/${d}c0 missing"
	v=$(cat /sys/block/$d/queue/io_poll 2>/dev/null)
	[ "$v" = 1 ] && ok "$d-io_poll" || bad "$d-io_poll" "io_poll=$v"
done
v=$(cat /sys/module/virtio_blk/parameters/poll_queues 2>/dev/null)
[ "$v" = 1 ] && ok "poll_queues-param" || bad "poll_queues-param" "poll_queues=$v"
[ "$(cat /sys/block/vda/serial)" = vbfile ] && ok vda-serial-vbfile || bad vda-serial-vbfile
[ "$(cat /sys/block/vdb/serial)" = vbnull ] && ok vdb-serial-vbnull || bad vdb-serial-vbnull

out=$("$bin" vda vdb)
rc=$?
echo "$out" | grep -v ' passed, .* failed$'
p=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
f=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
pass=$((pass + ${p:-0})) fail=$((fail + ${f:-0}))
[ -n "$p" ] || bad c-test-summary "exit $rc, no summary line"

# The documented way: an unprivileged user with no capabilities at all.
for d in vda vdb; do
	if [ ! -c /dev/${d}c0 ]; then
		bad "$d-nonroot-eacces-setpriv" "no /dev/${d}c0"
		continue
	fi
	mode=$(stat -c %a /dev/${d}c0)
	chmod 0666 /dev/${d}c0
	line=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$bin" --expect-eacces $d | grep -E '^(ok|FAIL) ')
	chmod "$mode" /dev/${d}c0
	case $line in ok\ *) ok "${line#ok }" ;; *) bad "${line:+${line#FAIL }}${line:-$d-nonroot-eacces-setpriv: no output}" ;; esac
done

# Nothing the tests did may have upset the kernel.
if dmesg | grep -E -q 'WARNING:|BUG:|Oops|refcount_t|leak'; then
	bad kernel-log-clean "$(dmesg | grep -E 'WARNING:|BUG:|Oops|refcount_t|leak' | head -3)"
else
	ok kernel-log-clean
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
