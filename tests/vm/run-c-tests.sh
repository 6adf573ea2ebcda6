#!/usr/bin/env bash
# Host side: build the C witness test and the kernel (cached), boot the VM and
# run tests/vm/guest-smoke.sh in it.  Extra arguments go to run-vm.sh
# (e.g. --kernel, --timeout, --results).  Exit code: the guest's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$("$here/c/build.sh" | tail -n1)
exec "$here/run-vm.sh" --timeout 600 "$@" --command "bash '$here/guest-smoke.sh' '$bin'"
