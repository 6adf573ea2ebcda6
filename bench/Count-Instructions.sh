#!/bin/sh
# User-space instructions per I/O of the managed engine and of the C peer, counted by valgrind (callgrind), which
# counts instructions whatever else the machine runs. Each side runs twice, with N1 and N2 I/Os; the difference
# divided by N2 - N1 is the marginal cost of one I/O, with start-up, JIT and set-up cancelled out. The managed side
# runs with DOTNET_TieredCompilation=0: fully optimised code from the first call, so no method is recompiled (tier 1,
# OSR) during the longer run only, which would otherwise be counted as the cost of its extra I/Os. Kernel
# instructions are not counted: both sides make the same system calls for the same I/Os (same batches).
# Run as root after a build:  bench/Count-Instructions.sh [QD BATCH]...   (default: 8 4  32 8  128 32)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
N1=${N1:-20000}
N2=${N2:-120000}
peer=$("$here/c/build.sh" | tail -n 1)
probe=/tmp/virtioblk-engineprobe
dotnet build "$here/EngineProbe" -c Release --nologo -v q -o "$probe" >/dev/null
img=/dev/shm/vblk-count-$$.img
truncate -s 256M "$img"
dev=$(losetup --find --show "$img")
trap 'losetup -d "$dev"; rm -f "$img"' EXIT
dd if="$dev" of=/dev/null bs=1M status=none   # page cache warm: buffered reads complete inline
count() { DOTNET_TieredCompilation=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
[ $# -eq 0 ] && set -- 8 4 32 8 128 32
printf '%-16s %14s %14s %8s\n' config module_instr/io c_instr/io c/module
while [ $# -ge 2 ]; do
	qd=$1 b=$2; shift 2
	m1=$(count dotnet "$probe/EngineProbe.dll" "$dev" "$qd" "$b" "$N1" 1)
	m2=$(count dotnet "$probe/EngineProbe.dll" "$dev" "$qd" "$b" "$N2" 1)
	c1=$(count "$peer" -p "$dev" -b 4096 -d "$qd" -s "$b" -c "$b" -O 0 -B -F -n "$N1")
	c2=$(count "$peer" -p "$dev" -b 4096 -d "$qd" -s "$b" -c "$b" -O 0 -B -F -n "$N2")
	awk -v q="QD$qd/batch$b" -v m1="$m1" -v m2="$m2" -v c1="$c1" -v c2="$c2" -v n="$((N2 - N1))" \
		'BEGIN { m = (m2 - m1) / n; c = (c2 - c1) / n; printf "%-16s %14.1f %14.1f %8.2f\n", q, m, c, c / m }'
done
