#!/usr/bin/env bash
# Build a small x86-64 guest kernel (Debian linux-source-6.12 + kernel/*.patch)
# for the VM test tier, and cache the bzImage outside the repository.
#
# Usage: kernel/build-kernel.sh [--unpatched|--debug] [--patches DIR] [--force] [--jobs N]
#   --unpatched  same configuration, no patches (negative/comparison boot)
#   --debug      the patches plus vm-kernel-debug.config (KASAN, lockdep,
#                DEBUG_ATOMIC_SLEEP, failslab) and the test hooks in
#                kernel/test-hooks/ (applied after the series, also with
#                --patches): the kernel of the removal and fault tests
#   --patches DIR  take DIR/0*.patch instead of kernel/0*.patch (to compare
#                an older patch set with the current one; cached by its hash)
#   --force      rebuild even when the cache has a bzImage for these inputs
#   --jobs N     make -jN (default: nproc)
#
# Environment:
#   VIRTIOBLK_KERNEL_CACHE  cache root   (default /var/cache/virtioblk/kernel)
#   VIRTIOBLK_KERNEL_WORK   build trees  (default /var/tmp/virtioblk-kernel)
#
# The cache key is the sha256 of the patches, the config fragment(s), this
# script's build recipe version and the source package version.  A second run
# with the same inputs only hashes and prints the cached path.  The build tree
# is kept per variant, so a changed patch rebuilds incrementally.
#
# Progress goes to stderr; the last stdout line is the bzImage path.
set -euo pipefail

RECIPE_VERSION=2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${VIRTIOBLK_KERNEL_CACHE:-/var/cache/virtioblk/kernel}
work_root=${VIRTIOBLK_KERNEL_WORK:-/var/tmp/virtioblk-kernel}
src_pkg=linux-source-6.12
src_tar=/usr/src/linux-source-6.12.tar.xz
fragment=$here/vm-kernel-fragment.config
debug_fragment=$here/vm-kernel-debug.config
patch_dir=$here
variant=patched
force=0
jobs=$(nproc)

log() { printf '[build-kernel] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--unpatched) variant=unpatched ;;
	--debug) variant=debug ;;
	--patches) patch_dir=$(cd "${2:?--patches needs a directory}" && pwd); shift ;;
	--force) force=1 ;;
	--jobs) jobs=${2:?--jobs needs a number}; shift ;;
	-h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done

[ -r "$fragment" ] || die "missing $fragment"
fragments=("$fragment")
if [ $variant = debug ]; then
	[ -r "$debug_fragment" ] || die "missing $debug_fragment"
	fragments+=("$debug_fragment")
fi

# --- host packages (apt-get only when something is missing) -----------------
need_pkgs=()
for p in $src_pkg build-essential bc flex bison libelf-dev libssl-dev cpio xz-utils; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing: ${need_pkgs[*]}"
	[ "$(id -u)" = 0 ] || die "need root to install ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi
[ -r "$src_tar" ] || die "missing $src_tar"
src_version=$(dpkg-query -W -f='${Version}' $src_pkg)

# --- inputs and cache key -----------------------------------------------------
patches=()
if [ $variant != unpatched ]; then
	shopt -s nullglob
	patches=("$patch_dir"/0*.patch)
	shopt -u nullglob
	[ ${#patches[@]} -gt 0 ] || die "no patches in $patch_dir"
fi
# The debug kernel's test hooks (not part of the series) go on last, whichever series is built.
if [ $variant = debug ]; then
	shopt -s nullglob
	patches+=("$here"/test-hooks/9*.patch)
	shopt -u nullglob
fi
key=$({
	echo "recipe $RECIPE_VERSION variant $variant source $src_pkg $src_version"
	for f in "${fragments[@]}"; do sha256sum "$f" | cut -d' ' -f1; done
	for p in "${patches[@]}"; do
		echo "$(basename "$p") $(sha256sum "$p" | cut -d' ' -f1)"
	done
} | sha256sum | cut -d' ' -f1)
out_dir=$cache_root/$key
if [ $force = 0 ] && [ -s "$out_dir/bzImage" ]; then
	log "cached: $variant kernel for key $key"
	echo "$out_dir/bzImage"
	exit 0
fi

# --- build tree (one per variant, kept for incremental rebuilds) -------------
tree=$work_root/$variant/linux
state=$work_root/$variant/state
mkdir -p "$work_root/$variant"
exec 9>"$work_root/$variant/lock"
flock 9 || die "cannot lock $work_root/$variant"

fresh_tree() {
	log "unpacking $src_tar into $work_root/$variant"
	rm -rf "$tree" "$state" "$work_root/$variant/unpack"
	mkdir -p "$work_root/$variant/unpack"
	tar -C "$work_root/$variant/unpack" -xf "$src_tar"
	mv "$work_root/$variant/unpack"/linux-source-* "$tree"
	rmdir "$work_root/$variant/unpack"
	mkdir -p "$state/applied"
	echo "$src_version" >"$state/source-version"
}

# A new tree starts as a copy of another variant's built tree when there is
# one: taking its patches off or putting ours on then rebuilds only the
# touched files instead of the whole kernel (the debug configuration still
# recompiles nearly everything, but skips the unpacking).
seed_from_other() {
	local other
	for other in patched unpatched debug; do
		[ $other != $variant ] || continue
		local otree=$work_root/$other/linux ostate=$work_root/$other/state
		[ -f "$otree/arch/x86/boot/bzImage" ] || continue
		[ "$(cat "$ostate/source-version" 2>/dev/null)" = "$src_version" ] || continue
		log "seeding the $variant tree from the $other tree"
		rm -rf "$tree" "$state"
		if (
			flock 8 || exit 1
			cp -a "$otree" "$tree" && cp -a "$ostate" "$state"
		) 8>"$work_root/$other/lock"; then
			return 0
		fi
		rm -rf "$tree" "$state"
	done
	return 1
}

if [ ! -d "$tree" ] || [ "$(cat "$state/source-version" 2>/dev/null)" != "$src_version" ]; then
	seed_from_other || fresh_tree
fi

# Take back whatever patches the tree carries (reverse order), then apply the
# current ones.  patch(1) only touches the files it changes, so make rebuilds
# just those.  If a reverse does not apply cleanly, start from a fresh tree.
unapply_all() {
	local old
	mapfile -t old < <(ls "$state/applied" 2>/dev/null | sort -r)
	for p in "${old[@]}"; do
		if ! patch -d "$tree" -p1 -R -s -f <"$state/applied/$p" >&2; then
			return 1
		fi
		rm -f "$state/applied/$p"
	done
}
same_patches=1
if [ "$(ls "$state/applied" | wc -l)" != "${#patches[@]}" ]; then
	same_patches=0
else
	for p in "${patches[@]}"; do
		cmp -s "$p" "$state/applied/$(basename "$p")" || same_patches=0
	done
fi
if [ $same_patches = 0 ]; then
	if ! unapply_all; then
		log "could not reverse the old patches; starting over"
		fresh_tree
	fi
	for p in "${patches[@]}"; do
		log "applying $(basename "$p")"
		patch -d "$tree" -p1 -s -N <"$p" >&2 || die "$(basename "$p") does not apply"
		cp "$p" "$state/applied/"
	done
fi

# --- configuration --------------------------------------------------------------
cat "${fragments[@]}" >"$work_root/$variant/fragment.config"
cfg_key=$(sha256sum "$work_root/$variant/fragment.config" | cut -d' ' -f1)
if [ ! -f "$tree/.config" ] || [ "$(cat "$state/config-key" 2>/dev/null)" != "$cfg_key" ]; then
	log "configuring: tinyconfig + kvm_guest.config + ${fragments[*]##*/}"
	make -C "$tree" -s tinyconfig >&2
	make -C "$tree" -s kvm_guest.config >&2
	(cd "$tree" && scripts/kconfig/merge_config.sh -m .config \
		"$work_root/$variant/fragment.config" >&2)
	make -C "$tree" -s olddefconfig >&2
	echo "$cfg_key" >"$state/config-key"
fi
# Every fragment line must have survived olddefconfig (a typo or a missing
# dependency would otherwise go unnoticed).
missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=n) sym=${line%%=*}
		grep -q "^$sym=[ym]" "$tree/.config" && { log "config: $sym is on"; missing=1; } ;;
	CONFIG_*=*) grep -qx "$line" "$tree/.config" || { log "config: $line did not stick"; missing=1; } ;;
	esac
done < <(cat "${fragments[@]}")
[ $missing = 0 ] || die "the configuration does not match ${fragments[*]}"

# --- build --------------------------------------------------------------------
log "make -j$jobs bzImage ($variant)"
start=$(date +%s)
make -C "$tree" -s -j"$jobs" bzImage >&2
log "built in $(( $(date +%s) - start )) s"

mkdir -p "$out_dir"
cp "$tree/arch/x86/boot/bzImage" "$out_dir/bzImage.tmp"
cp "$tree/.config" "$out_dir/config"
{
	echo "variant=$variant"
	echo "source=$src_pkg $src_version"
	for p in "${patches[@]}"; do echo "patch=$(basename "$p") $(sha256sum "$p" | cut -d' ' -f1)"; done
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out_dir/info"
mv "$out_dir/bzImage.tmp" "$out_dir/bzImage"
echo "$out_dir/bzImage"
