#!/usr/bin/env bash
# Build the static C witness test on the host, outside the repository.
# Prints the binary's path as the last stdout line.
#   VBK_C_OUT  output directory (default /var/tmp/virtioblk-c)
# The binary is named by a hash of its source: worktrees and CI runs share the
# directory, and a file's age says nothing about which source it came from.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${VBK_C_OUT:-/var/tmp/virtioblk-c}
mkdir -p "$out"
src=$here/vblk-passthru-test.c
hash=$(sha256sum "$src" | cut -c1-16)
bin=$out/vblk-passthru-test.$hash
if [ ! -x "$bin" ]; then
	gcc -static -O2 -Wall -Wextra -Werror -o "$bin.tmp.$$" "$src" >&2
	mv "$bin.tmp.$$" "$bin"
fi
echo "$bin"
