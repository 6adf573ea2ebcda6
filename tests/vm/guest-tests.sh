#!/bin/bash
# Runs inside the test VM (build.ps1 -Task VmTest): the in-guest suites, each writing its result to
# $VBK_RESULTS for build.ps1 to add up.
#   guest-tests.sh CONFIGURATION C_WITNESS_BINARY
cfg=${1:-Release}
witness=${2:-}
results=${VBK_RESULTS:-${vbk_results:?run through run-vm.sh --results}}
. tests/vm/vbk-disks.sh
rc=0

echo "--- kernel $(uname -r); disks: $(ls /sys/block | tr '\n' ' ')"

echo "--- C witness (raw syscalls against the char devices)"
if [ -n "$witness" ]; then
	bash tests/vm/guest-smoke.sh "$witness" | tee "$results/c-witness.txt"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi

echo "--- xunit: the core against /dev/vdXc0 (Tier=Vm)"
dotnet "tests/VirtioBlk.Core.Tests/bin/$cfg/net10.0/VirtioBlk.Core.Tests.dll" \
	-trait Tier=Vm -result-xml "$results/core-vm.xml" || rc=1

if ls tests/pester/*.Vm.Tests.ps1 >/dev/null 2>&1; then
	echo "--- Pester: the cmdlets against the guest's virtio disks (Tag VM)"
	pwsh -NoProfile -File tests/pester/Invoke-Tests.ps1 -Tag VM | tee "$results/pester-vm.txt"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	# The cmdlets' fault and removal tests must not have upset the kernel either (the C witness checked before them).
	if vbk_kernel_reports >/dev/null; then
		{ echo "FAIL kernel-log-clean-after-pester: $(vbk_kernel_reports | head -3)"; echo "0 passed, 1 failed"; } | tee "$results/kernel-log-vm.txt"
		rc=1
	else
		{ echo "ok kernel-log-clean-after-pester"; echo "1 passed, 0 failed"; } | tee "$results/kernel-log-vm.txt"
	fi
fi
exit $rc
