#!/usr/bin/env bash
# Build the static C witness test on the host, outside the repository.
# Prints the binary's path as the last stdout line.
#   VBK_C_OUT  output directory (default /var/tmp/virtioblk-c)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${VBK_C_OUT:-/var/tmp/virtioblk-c}
mkdir -p "$out"
bin=$out/vblk-passthru-test
if [ ! -x "$bin" ] || [ "$here/vblk-passthru-test.c" -nt "$bin" ]; then
	gcc -static -O2 -Wall -Wextra -Werror -o "$bin.tmp" "$here/vblk-passthru-test.c" >&2
	mv "$bin.tmp" "$bin"
fi
echo "$bin"
