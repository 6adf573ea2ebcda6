#!/bin/bash
# Runs inside the test VM: every disk of the matrix (tests/vm/README.md) is there once, by serial, with
# exactly its stated properties. Prints "ok NAME" / "FAIL NAME: why" lines and "N passed, N failed".
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/vbk-disks.sh"
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
is() { [ "$2" = "$3" ] && ok "$1" || bad "$1" "want '$3', got '$2'"; }

MiB=2048	# sectors
# serial  sectors         logical physical ro  virtqueues
matrix="vbfile  $((256 * MiB)) 512  512  0 2
vbnull  $((1 << 35))   512  512  0 2
vb4k    $((64 * MiB))  4096 4096 0 2
vbro    $((64 * MiB))  512  512  1 2
vbfault $((64 * MiB))  512  512  0 2
vbmq    $((64 * MiB))  512  512  0 2"

is matrix-six-virtio-disks "$(ls -d /sys/block/vd* 2>/dev/null | wc -l)" 6
while read -r serial sectors lbs pbs ro queues; do
	is "$serial-present-once" "$(grep -lx "$serial" /sys/block/vd*/serial 2>/dev/null | wc -l)" 1
	d=$(vbk_disk "$serial") || continue
	q=/sys/block/$d/queue
	is "$serial-size-sectors" "$(cat /sys/block/$d/size)" "$sectors"
	is "$serial-logical-block-size" "$(cat $q/logical_block_size)" "$lbs"
	is "$serial-physical-block-size" "$(cat $q/physical_block_size)" "$pbs"
	is "$serial-ro" "$(cat /sys/block/$d/ro)" "$ro"
	# The device's own feature bit, not only the kernel's view: bit 5 is VIRTIO_BLK_F_RO.
	is "$serial-virtio-f-ro" "$(cut -c6 /sys/block/$d/device/features)" "$ro"
	# num-queues virtqueues; with virtio_blk.poll_queues=1 one of them is the poll queue.
	is "$serial-hw-queues" "$(ls /sys/block/$d/mq | wc -l)" "$queues"
	is "$serial-io_poll" "$(cat $q/io_poll)" 1
done <<<"$matrix"

# vbnull: 16 TiB, its last sector (above 2^32) reads on the block path.
if d=$(vbk_disk vbnull); then
	dd if=/dev/$d of=/dev/null bs=512 count=1 skip=$(( (1 << 35) - 1 )) iflag=direct status=none 2>/dev/null &&
		ok vbnull-last-sector-reads || bad vbnull-last-sector-reads
fi

# vbfault: exactly the stated sectors fail, on the block path (O_DIRECT, one sector each).
sector_io() { # read|write DISK SECTOR
	if [ "$1" = read ]; then
		dd if=/dev/$2 of=/dev/null bs=512 count=1 skip="$3" iflag=direct status=none 2>/dev/null
	else
		dd if=/dev/zero of=/dev/$2 bs=512 count=1 seek="$3" oflag=direct conv=notrunc status=none 2>/dev/null
	fi
}
if d=$(vbk_disk vbfault); then
	for io in read:2048 write:4096; do
		op=${io%%:*} first=${io#*:} last=$(( ${io#*:} + 7 )) all=1
		for s in $(seq "$first" "$last"); do
			sector_io "$op" "$d" "$s" && { all=0; echo "# vbfault: $op of sector $s worked"; }
		done
		[ $all = 1 ] && ok "vbfault-$op-$first-$last-eio" || bad "vbfault-$op-$first-$last-eio"
		sector_io "$op" "$d" $((first - 1)) && sector_io "$op" "$d" $((last + 1)) &&
			ok "vbfault-$op-neighbours-work" || bad "vbfault-$op-neighbours-work"
	done
	# Every other sector works: the whole disk around each range, in 64 KiB requests.
	total=$(( $(cat /sys/block/$d/size) * 512 ))
	dd if=/dev/$d of=/dev/null bs=64k iflag=direct,count_bytes count=$((2048 * 512)) status=none &&
		dd if=/dev/$d of=/dev/null bs=64k iflag=direct,skip_bytes skip=$((2056 * 512)) status=none &&
		ok vbfault-other-sectors-read || bad vbfault-other-sectors-read
	dd if=/dev/zero of=/dev/$d bs=64k iflag=count_bytes count=$((4096 * 512)) oflag=direct conv=notrunc status=none &&
		dd if=/dev/zero of=/dev/$d bs=64k iflag=count_bytes count=$((total - 4104 * 512)) \
			oflag=direct,seek_bytes seek=$((4104 * 512)) conv=notrunc status=none &&
		ok vbfault-other-sectors-write || bad vbfault-other-sectors-write
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
