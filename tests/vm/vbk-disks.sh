# Sourced by the guest-side scripts: find the test VM's disks by serial, never by letter
# (the letters follow PCI order and change when a disk is removed and added back).
#   vbk_disk SERIAL     prints the disk's name (vda, vdb, ...); status 1 if no disk has it
#   vbk_disks           prints "SERIAL NAME" for every virtio disk
#   vbk_wait_disk SERIAL SECONDS
#                       waits for the disk and its char device; prints its name; status 1 if it never came
#   vbk_kernel_reports  prints dmesg's WARN, BUG (KASAN), Oops, lockdep, UBSAN lines; status 1 if none
vbk_disk() {
	local s
	for s in /sys/block/vd*/serial; do
		[ -r "$s" ] || continue
		if [ "$(cat "$s")" = "$1" ]; then
			s=${s%/serial}
			echo "${s##*/}"
			return 0
		fi
	done
	return 1
}
vbk_disks() {
	local s d
	for s in /sys/block/vd*/serial; do
		[ -r "$s" ] || continue
		d=${s%/serial}
		echo "$(cat "$s") ${d##*/}"
	done
}

vbk_wait_disk() {
	local i d
	for i in $(seq $(( $2 * 10 ))); do
		d=$(vbk_disk "$1") && [ -c "/dev/${d}c0" ] && { echo "$d"; return 0; }
		sleep 0.1
	done
	return 1
}

# The kernel-log check of every boot: nothing the tests did may have upset the kernel.
vbk_kernel_reports() {
	dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|refcount_t|leak|DEBUG_LOCKS_WARN_ON|INFO: |UBSAN'
}
