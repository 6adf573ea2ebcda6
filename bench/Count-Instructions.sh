#!/bin/sh
# User-space instructions per I/O of the managed engine and of the C peer, counted by valgrind (callgrind), which
# counts instructions whatever else the machine runs. Each side runs twice, with N1 and N2 I/Os; the difference
# divided by N2 - N1 is the marginal cost of one I/O, with start-up, JIT and set-up cancelled out. The managed side
# runs with DOTNET_TieredCompilation=0: fully optimised code from the first call, so no method is recompiled (tier 1,
# OSR) during the longer run only, which would otherwise be counted as the cost of its extra I/Os. Kernel
# instructions are not counted: both sides make the same system calls for the same I/Os (same batches).
# TIERED=1 counts the managed side the way users run it instead: the default runtime configuration (tiered
# compilation, OSR and dynamic PGO on). Then both runs default to many more I/Os (N1=200000, N2=1200000), so that
# every tier-up (OSR, tier 1 of the callees, which happens after ~30 calls and a 100 ms quiet period) is done well
# inside the shorter run and the difference is the steady state, not the JIT's work.
# Run as root after a build:  [TIERED=1] bench/Count-Instructions.sh [QD BATCH]...   (default: 8 4  32 8  128 32)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
TIERED=${TIERED:-0}
if [ "$TIERED" = 1 ]; then
	N1=${N1:-200000}
	N2=${N2:-1200000}
	tc=1
else
	N1=${N1:-20000}
	N2=${N2:-120000}
	tc=0
fi
peer=$("$here/c/build.sh" | tail -n 1)
probe=$(mktemp -d /tmp/virtioblk-engineprobe.XXXXXX) # one per run, so two runs (two checkouts) can count at once
dotnet build "$here/EngineProbe" -c Release --nologo -v q -o "$probe" >/dev/null
img=/dev/shm/vblk-count-$$.img
truncate -s 256M "$img"
dev=$(losetup --find --show "$img")
trap 'losetup -d "$dev"; rm -f "$img"; rm -rf "$probe"' EXIT
dd if="$dev" of=/dev/null bs=1M status=none   # page cache warm: buffered reads complete inline
# DOTNET_JitEnableOptionalRelocs=0: under valgrind the JIT's code lands out of rel32 reach of the runtime's
# indirection cells, the relocations overflow and the runtime compiles every such method again with MinOpts (no
# inlining: DOTNET_JitDisasmSummary=1 lists 106 MinOpts methods under valgrind, none natively), which is not the code
# users run. With the knob the JIT emits 64-bit addresses from the start and keeps its optimisations (a call then
# costs one more instruction, a mov of the address: a slight over-count). The C peer is unaffected. OPTIONAL_RELOCS=1
# counts the way this script did before 2026-12-02 (the MinOpts recompilations included).
relocs=${OPTIONAL_RELOCS:-0}
count() { DOTNET_JitEnableOptionalRelocs=$relocs DOTNET_TieredCompilation=$tc valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
[ $# -eq 0 ] && set -- 8 4 32 8 128 32
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), N1=$N1 N2=$N2, DOTNET_TieredCompilation=$tc DOTNET_JitEnableOptionalRelocs=$relocs"
printf '%-16s %14s %14s %8s %s\n' config module_instr/io c_instr/io c/module 'raw: module N1 N2, C N1 N2'

while [ $# -ge 2 ]; do
	qd=$1 b=$2; shift 2
	m1=$(count dotnet "$probe/EngineProbe.dll" "$dev" "$qd" "$b" "$N1" 1)
	m2=$(count dotnet "$probe/EngineProbe.dll" "$dev" "$qd" "$b" "$N2" 1)
	c1=$(count "$peer" -p "$dev" -b 4096 -d "$qd" -s "$b" -c "$b" -O 0 -B -F -n "$N1")
	c2=$(count "$peer" -p "$dev" -b 4096 -d "$qd" -s "$b" -c "$b" -O 0 -B -F -n "$N2")
	awk -v q="QD$qd/batch$b" -v m1="$m1" -v m2="$m2" -v c1="$c1" -v c2="$c2" -v n="$((N2 - N1))" \
		'BEGIN { m = (m2 - m1) / n; c = (c2 - c1) / n; printf "%-16s %14.1f %14.1f %8.2f %s %s %s %s\n", q, m, c, c / m, m1, m2, c1, c2 }'
done
