#!/bin/bash
# Runs inside the test VM on the debug kernel: polling must never go through a freed request (kernel/0003's
# iopoll fix). The posted series and this project's earlier patch freed the request in the end_io handler
# (RQ_END_IO_FREE) while the completion still waited in task work, and ->uring_cmd_iopoll went on polling
# through pdu->req: blk_rq_poll() ran on a request whose reference count was 0, and once virtblk_remove()
# had freed the tag set, on freed memory. The debug kernel's hook (kernel/test-hooks/9002) counts the polls
# and the polls through a freed request. IOPOLL rings read the disk's char device, first one ring, then two
# pinned one per vCPU: with virtio_blk.poll_queues=1 both vCPUs map to the disk's one poll queue, so each
# ring's poll also reaps the other's completions, the case where a completed command is polled again before
# its task work ran. The hook must have counted polls, and none through a freed request.
#   guest-iopoll-freed.sh BINARY [SERIAL] [SECONDS]   BINARY = tests/vm/c/build.sh's output; default vbmq, 5 s
# Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed".
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/vbk-disks.sh"
bin=${1:?usage: guest-iopoll-freed.sh /path/to/vblk-passthru-test [SERIAL] [SECONDS]}
serial=${2:-vbmq}
seconds=${3:-5}
t=iopoll-freed-$serial
hook=/sys/module/blk_mq/parameters
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ $fail = 0 ]; exit; }
calls() { cat "$hook/test_hook_poll_calls"; }
freed() { cat "$hook/test_hook_poll_freed"; }

d=$(vbk_disk "$serial")
if [ -z "$d" ] || [ ! -c "/dev/${d}c0" ]; then
	bad "$t-prerequisites" "no disk with serial $serial and a char device"
	finish
fi
if [ ! -r "$hook/test_hook_poll_freed" ]; then
	bad "$t-prerequisites" "no $hook/test_hook_poll_freed: the debug kernel lacks kernel/test-hooks/9002"
	finish
fi
if [ "$(cat "/sys/block/$d/queue/io_poll" 2>/dev/null)" != 1 ]; then
	bad "$t-prerequisites" "$d has no poll queue (virtio_blk.poll_queues=1 and num-queues >= 2 are needed)"
	finish
fi
cpus=$(nproc)

# run NAME CPU... : one polled reader per listed CPU, all at once; each must run its time without an error
# (the C tool's --load exits 3 for that). Then the hook's counters since the start of the run.
run() {
	local name=$1 c0 f0 c1 f1 pids=() outs=() i rc good=1 why=
	shift
	c0=$(calls) f0=$(freed)
	for cpu in "$@"; do
		outs+=("$(mktemp)")
		taskset -c "$cpu" "$bin" --load "/dev/${d}c0" ptpoll 16 "$seconds" >"${outs[-1]}" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}"
		rc=$?
		if [ $rc != 3 ]; then
			good=0 why+="reader on CPU ${*:$((i + 1)):1} exited $rc: $(tail -1 "${outs[$i]}"); "
		else
			why+="$(tail -1 "${outs[$i]}" | sed 's/.*, //'); "
		fi
		rm -f "${outs[$i]}"
	done
	c1=$(calls) f1=$(freed)
	[ $good = 1 ] && ok "$t-$name-reads" || bad "$t-$name-reads" "$why"
	echo "# $t-$name: ${why}blk_rq_poll calls $((c1 - c0)), through a freed request $((f1 - f0))"
	[ $((c1 - c0)) -gt 0 ] && ok "$t-$name-polled" ||
		bad "$t-$name-polled" "the hook counted no blk_rq_poll() call: the rings did not poll"
	if [ $((f1 - f0)) = 0 ]; then
		ok "$t-$name-no-poll-through-a-freed-request"
	else
		bad "$t-$name-no-poll-through-a-freed-request" \
			"$((f1 - f0)) of $((c1 - c0)) polls went through a freed request: $(dmesg | grep -m1 'blk_rq_poll: request')"
		# The hook warns once per boot: its stack shows who polled.
		dmesg | grep -A40 -m1 'blk_rq_poll: request' | grep -E 'Call Trace|\+0x' | head -24 | sed 's/^/# /'
	fi
}

run one-ring 0
if [ "$cpus" -ge 2 ]; then
	run two-rings-one-poll-queue 0 1
else
	bad "$t-two-rings-one-poll-queue" "the guest has $cpus vCPU; two are needed"
fi
finish
