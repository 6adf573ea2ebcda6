#!/bin/bash
# Runs inside the test VM booted with the debug kernel (kernel/build-kernel.sh --debug: KASAN, lockdep,
# DEBUG_ATOMIC_SLEEP, failslab), from build.ps1 -Task VmTest: the disk matrix, the C witness with the fault
# ranges, the removal test and the kernel-log check (guest-smoke.sh), the probe error path
# (guest-probe-failure.sh), polls through a freed request (guest-iopoll-freed.sh), then the Pester tests tagged
# VmDebug, if any. Any WARN, BUG, KASAN or lockdep report in dmesg fails the run.
#   guest-debug-tests.sh C_WITNESS_BINARY
# Writes debug-kernel.txt (and pester-debug.txt) to $VBK_RESULTS for build.ps1 to add up.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
witness=${1:?usage: guest-debug-tests.sh /path/to/vblk-passthru-test}
results=${VBK_RESULTS:?run through run-vm.sh --results}
. "$here/vbk-disks.sh"
rc=0
# Removal on this kernel took 4 to 12 s from device_del to the first failed I/O in CI (10 s on the
# normal kernel is the contract, checked in the first boot); here the run is for the kernel log.
export VBK_REMOVAL_BOUND_S=30

echo "--- debug kernel $(uname -r)"
{
	# The reports can only come from a kernel that has the detectors.
	dmesg | grep -q 'KernelAddressSanitizer initialized' && echo "ok debug-kernel-has-kasan" ||
		echo "FAIL debug-kernel-has-kasan: no 'KernelAddressSanitizer initialized' in dmesg"
	[ -e /proc/lockdep ] && echo "ok debug-kernel-has-lockdep" || echo "FAIL debug-kernel-has-lockdep: no /proc/lockdep"
	bash "$here/guest-smoke.sh" "$witness"
	# The probe error path, with one allocation failed inside virtblk_cdev_add() (failslab).
	bash "$here/guest-probe-failure.sh" "$witness"
	# Polling never goes through a freed request (the test hook counts blk_rq_poll() calls).
	bash "$here/guest-iopoll-freed.sh" "$witness"
} | awk '
	/^ok / { p++ } /^FAIL / { f++ }
	!/^[0-9]+ passed, [0-9]+ failed$/ { print; fflush() }
	END { printf "%d passed, %d failed\n", p, f }' | tee "$results/debug-kernel.txt"
grep -q ' 0 failed$' "$results/debug-kernel.txt" || rc=1

# Module tests that belong on this kernel (removal, faults) carry the tag VmDebug.
if grep -l -E "Tags?[^#]*'VmDebug'" "$here"/../pester/*.Tests.ps1 >/dev/null 2>&1; then
	echo "--- Pester on the debug kernel (Tag VmDebug)"
	pwsh -NoProfile -File "$here/../pester/Invoke-Tests.ps1" -Tag VmDebug | tee "$results/pester-debug.txt"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	if vbk_kernel_reports >/dev/null; then
		{ echo "FAIL kernel-log-clean-after-pester: $(vbk_kernel_reports | head -3)"; echo "0 passed, 1 failed"; } | tee "$results/kernel-log-debug.txt"
		rc=1
	else
		{ echo "ok kernel-log-clean-after-pester"; echo "1 passed, 0 failed"; } | tee "$results/kernel-log-debug.txt"
	fi
fi
exit $rc
