#!/bin/sh
# Builds the C peer (bench/c/vbload) with the host's or guest's gcc. Usage: bench/c/build.sh [output]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/vbload}
gcc -O2 -Wall -Wextra -Werror -o "$out" "$here/vbload.c"
echo "$out"
