// SPDX-License-Identifier: MIT
/*
 * vblk-passthru-test: checks the virtio-blk io_uring passthrough char device
 * (/dev/vdXc0, kernel/000*.patch) from inside the test VM.
 *
 * Raw io_uring syscalls, no liburing.  One line per check, "ok NAME" or
 * "FAIL NAME: why", then "N passed, N failed".  Exit status 0 only if
 * nothing failed.  Check names start with the disk's serial (vbfile-...),
 * which, unlike the letter, does not change.
 *
 *   vblk-passthru-test DISK...        DISK is a block device name (vda, ...);
 *                                     find it by serial (tests/vm/vbk-disks.sh)
 *   vblk-passthru-test --expect-eacces vdX
 *                                     one read as the calling user, which
 *                                     must get -EACCES (run it through
 *                                     setpriv as an unprivileged user)
 *   vblk-passthru-test --load PATH MODE QD SECONDS
 *                                     4 KiB random reads at depth QD until
 *                                     the first error or SECONDS; MODE is pt
 *                                     or ptpoll (PATH = /dev/vdXc0), block or
 *                                     blockpoll (PATH = /dev/vdX, O_DIRECT).
 *                                     Prints "load: running" once I/O
 *                                     completes, then "load: ..." with the
 *                                     error; exit 0 if an error ended it, 3
 *                                     if the time ran out
 *   vblk-passthru-test --bench CDEV COUNT
 *                                     cost per passthrough read (QD1, QD32)
 *   vblk-passthru-test --catch-open NODE SECONDS GO
 *                                     opens the block device node NODE as
 *                                     soon as its disk exists (tries for up
 *                                     to SECONDS, or until the file GO
 *                                     exists), holds it, and once GO exists
 *                                     asks HDIO_GETGEO; prints "catch: ..."
 *                                     lines; exit 0 if that answered
 *                                     -ENXIO, 1 if anything else, 2 if the
 *                                     disk never opened
 *
 * What each disk gets depends on its serial and sysfs: data is compared
 * except on "vbnull" (QEMU's null device keeps nothing), no writes on a
 * read-only disk, the fault ranges on "vbfault" (reads of sectors
 * 2048..2055 and writes of 4096..4103 fail in QEMU's blkdebug).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/hdreg.h>
#include <linux/io_uring.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The ABI of include/uapi/linux/virtio_blk.h in the patched kernel. */
struct virtblk_uring_cmd {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
	uint64_t data;
	uint32_t data_len;
	uint32_t flag;	/* bit 0 ignored; the others reserved (-EINVAL) */
};
_Static_assert(sizeof(struct virtblk_uring_cmd) == 32, "32-byte command");

#define VIRTBLK_URING_CMD_IO		1
#define VIRTBLK_URING_CMD_IO_VEC	2
#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8
#define S_OK		0
#define S_IOERR		1
#define ID_BYTES	20

static int passed, failed;

static void check(bool good, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (good) {
		printf("ok %s\n", name);
		passed++;
	} else {
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
		failed++;
	}
	fflush(stdout);
}

/* ---- a minimal io_uring ------------------------------------------------- */

struct ring {
	int fd;
	unsigned int flags;
	size_t sqe_size;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned char *sqes;
	void *sq_map, *cq_map;
	size_t sq_len, cq_len, sqes_len;
};

static int ring_init(struct ring *r, unsigned int entries, unsigned int flags)
{
	struct io_uring_params p;
	unsigned char *sq, *cq;

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	r->fd = syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		return -errno;
	r->flags = flags;
	r->sqe_size = (flags & IORING_SETUP_SQE128) ? 128 : 64;
	r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	r->sqes_len = p.sq_entries * r->sqe_size;
	r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			 r->fd, IORING_OFF_SQ_RING);
	r->cq_map = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			 r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       r->fd, IORING_OFF_SQES);
	if (r->sq_map == MAP_FAILED || r->cq_map == MAP_FAILED || r->sqes == MAP_FAILED) {
		close(r->fd);
		return -ENOMEM;
	}
	sq = r->sq_map;
	cq = r->cq_map;
	r->sq_head = (unsigned int *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

static void ring_exit(struct ring *r)
{
	munmap(r->sqes, r->sqes_len);
	munmap(r->cq_map, r->cq_len);
	munmap(r->sq_map, r->sq_len);
	close(r->fd);
}

static int ring_register_buffer(struct ring *r, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_BUFFERS, &iov, 1) < 0)
		return -errno;
	return 0;
}

/* An SQE for one uring_cmd; the caller fills the rest, then ring_run(). */
static struct io_uring_sqe *ring_sqe(struct ring *r)
{
	unsigned int tail = *r->sq_tail;
	unsigned int idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)(r->sqes + idx * r->sqe_size);

	memset(sqe, 0, r->sqe_size);
	r->sq_array[idx] = idx;
	return sqe;
}

/* Submit the one prepared SQE and wait for its CQE; returns cqe->res. */
static int ring_run(struct ring *r, int *res)
{
	unsigned int head;
	int ret;

	/* The kernel reads the SQE only after it sees the new tail. */
	__atomic_store_n(r->sq_tail, *r->sq_tail + 1, __ATOMIC_RELEASE);
	do {
		ret = syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	for (;;) {
		head = *r->cq_head;
		/* Acquire: the CQE's contents are visible once the tail is. */
		if (head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
			break;
		ret = syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
	*res = r->cqes[head & *r->cq_mask].res;
	/* Let the kernel reuse the slot only after we read it. */
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return 0;
}

#define NO_FIXED (-1)

/*
 * One passthrough command.  Returns cqe->res, or INT32_MIN + 1 if the ring
 * itself failed (io_uring_enter error).
 */
static int vcmd_flag(struct ring *r, int fd, uint32_t cmd_op, uint32_t type, uint64_t sector,
		     const void *data, uint32_t data_len, int fixed_index, uint32_t flag)
{
	struct virtblk_uring_cmd c = {
		.type = type, .sector = sector,
		.data = (uint64_t)(uintptr_t)data, .data_len = data_len, .flag = flag,
	};
	struct io_uring_sqe *sqe = ring_sqe(r);
	int res = 0, ret;

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
	if (fixed_index >= 0) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = fixed_index;
	}
	/* A 64-byte SQE has room for 16 bytes of command at offset 48. */
	memcpy((unsigned char *)sqe + 48, &c, r->sqe_size == 128 ? sizeof(c) : 16);
	ret = ring_run(r, &res);
	if (ret < 0) {
		fprintf(stderr, "io_uring_enter: %s\n", strerror(-ret));
		return INT32_MIN + 1;
	}
	return res;
}

static int vcmd(struct ring *r, int fd, uint32_t cmd_op, uint32_t type, uint64_t sector,
		const void *data, uint32_t data_len, int fixed_index)
{
	return vcmd_flag(r, fd, cmd_op, type, sector, data, data_len, fixed_index, 0);
}

/* ---- helpers ------------------------------------------------------------ */

static void *abuf(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len))
		abort();
	memset(p, 0, len);
	return p;
}

static void fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t *w = buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = (seed + i) * 0x9e3779b97f4a7c15ULL ^ i;
}

static const char *resname(int res)
{
	static char s[64];

	if (res < 0)
		snprintf(s, sizeof(s), "res %d (%s)", res, strerror(-res));
	else
		snprintf(s, sizeof(s), "res %d (status byte)", res);
	return s;
}

static bool read_sys(const char *disk, const char *attr, char *out, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", disk, attr);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(out, len, f))
		out[0] = 0;
	fclose(f);
	out[strcspn(out, "\n")] = 0;
	return true;
}

static uint64_t sys_u64(const char *disk, const char *attr)
{
	char v[64];

	return read_sys(disk, attr, v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the checks --------------------------------------------------------- */

struct disk {
	const char *name;	/* vda */
	char cdev[64];		/* /dev/vdac0 */
	char bdev[64];		/* /dev/vda */
	char serial[64];
	uint64_t sectors;	/* 512-byte units */
	uint32_t lbs;		/* logical block size in bytes */
	bool keeps_data;
	bool ro;
	bool fault;		/* vbfault: blkdebug error ranges */
	int fd;
};

static char cname[192];
static const char *N(const struct disk *d, const char *what)
{
	snprintf(cname, sizeof(cname), "%s-%s", d->serial[0] ? d->serial : d->name, what);
	return cname;
}

/* Write then read back BUF_LEN bytes at SECTOR with CMD_IO; compare. */
static void rw_plain(struct disk *d, struct ring *r, const char *tag, uint64_t sector,
		     size_t len, uint64_t seed)
{
	void *wbuf = abuf(len), *rbuf = abuf(len);
	char what[128];
	int res;

	fill(wbuf, len, seed);
	if (!d->ro) {
		snprintf(what, sizeof(what), "%s-write", tag);
		res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, sector, wbuf, len, NO_FIXED);
		check(res == S_OK, N(d, what), "%s", resname(res));
	}
	snprintf(what, sizeof(what), "%s-read", tag);
	res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, sector, rbuf, len, NO_FIXED);
	if (d->keeps_data && !d->ro && res == S_OK)
		check(!memcmp(wbuf, rbuf, len), N(d, what), "data differs at sector %llu",
		      (unsigned long long)sector);
	else
		check(res == S_OK, N(d, what), "%s", resname(res));
	free(wbuf);
	free(rbuf);
}

/* The same with IO_VEC: three segments of different lengths. */
static void rw_vec(struct disk *d, struct ring *r, const char *tag, uint64_t sector, uint64_t seed)
{
	size_t lens[3] = { 512, 1024, 2560 }, total = 4096;
	void *wbuf = abuf(total), *rbuf = abuf(total);
	struct iovec wv[3], rv[3];
	size_t off = 0;
	char what[128];
	int res;

	fill(wbuf, total, seed);
	for (int i = 0; i < 3; i++) {
		wv[i] = (struct iovec){ (char *)wbuf + off, lens[i] };
		rv[i] = (struct iovec){ (char *)rbuf + off, lens[i] };
		off += lens[i];
	}
	if (!d->ro) {
		snprintf(what, sizeof(what), "%s-writev", tag);
		res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO_VEC, T_OUT, sector, wv, 3, NO_FIXED);
		check(res == S_OK, N(d, what), "%s", resname(res));
	}
	snprintf(what, sizeof(what), "%s-readv", tag);
	res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO_VEC, T_IN, sector, rv, 3, NO_FIXED);
	if (d->keeps_data && !d->ro && res == S_OK)
		check(!memcmp(wbuf, rbuf, total), N(d, what), "data differs");
	else
		check(res == S_OK, N(d, what), "%s", resname(res));
	free(wbuf);
	free(rbuf);
}

/* Fixed (registered) buffer: write from one half, read into the other. */
static void rw_fixed(struct disk *d, struct ring *r, const char *tag, uint64_t sector,
		     unsigned char *reg, uint64_t seed)
{
	unsigned char *w = reg, *rd = reg + 8192;
	char what[128];
	int res;

	fill(w, 8192, seed);
	memset(rd, 0, 8192);
	if (!d->ro) {
		snprintf(what, sizeof(what), "%s-write-fixed", tag);
		res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, sector, w, 8192, 0);
		check(res == S_OK, N(d, what), "%s", resname(res));
	}
	snprintf(what, sizeof(what), "%s-read-fixed", tag);
	res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, sector, rd, 8192, 0);
	if (d->keeps_data && !d->ro && res == S_OK)
		check(!memcmp(w, rd, 8192), N(d, what), "data differs");
	else
		check(res == S_OK, N(d, what), "%s", resname(res));
}

static void expect(struct disk *d, const char *tag, const char *what, int res, int want)
{
	char name[128];

	snprintf(name, sizeof(name), "%s-%s", tag, what);
	check(res == want, N(d, name), "want %s, got %s", want < 0 ? strerror(-want) :
	      want == S_OK ? "0 (OK)" : "1 (IOERR)", resname(res));
}

/*
 * vbfault: QEMU fails reads touching sectors 2048..2055 and writes touching
 * 4096..4103; the status byte must say IOERR on both ring kinds (the posted
 * series lost it on polled rings), and the neighbours must work.
 */
static void fault_suite(struct disk *d, struct ring *r, const char *tag)
{
	void *buf = abuf(4096);

	expect(d, tag, "fault-read-2048-ioerr", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 2048,
	       buf, 4096, NO_FIXED), S_IOERR);
	expect(d, tag, "fault-read-2055-ioerr", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 2055,
	       buf, 512, NO_FIXED), S_IOERR);
	expect(d, tag, "fault-read-straddling-ioerr", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN,
	       2044, buf, 4096, NO_FIXED), S_IOERR);
	expect(d, tag, "fault-read-before-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 2040,
	       buf, 4096, NO_FIXED), S_OK);
	expect(d, tag, "fault-read-after-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 2056,
	       buf, 4096, NO_FIXED), S_OK);
	expect(d, tag, "fault-write-range-readable", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 4096,
	       buf, 4096, NO_FIXED), S_OK);
	expect(d, tag, "fault-write-4096-ioerr", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 4096,
	       buf, 4096, NO_FIXED), S_IOERR);
	expect(d, tag, "fault-write-4103-ioerr", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 4103,
	       buf, 512, NO_FIXED), S_IOERR);
	expect(d, tag, "fault-write-before-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 4088,
	       buf, 4096, NO_FIXED), S_OK);
	expect(d, tag, "fault-write-after-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 4104,
	       buf, 4096, NO_FIXED), S_OK);
	expect(d, tag, "fault-read-range-writable", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 2048,
	       buf, 4096, NO_FIXED), S_OK);
	free(buf);
}

/* The checks every ring kind shares: data at first/middle/last, errors. */
static void ring_suite(struct disk *d, struct ring *r, const char *tag, unsigned char *reg,
		       uint64_t seed)
{
	uint64_t last = d->sectors - 8, mid = d->sectors / 2;
	char what[48];
	void *buf = abuf(4096);
	struct iovec iov = { reg, 4096 };
	int res;

	snprintf(what, sizeof(what), "%s-first", tag);
	rw_plain(d, r, what, 0, 4096, seed + 1);
	snprintf(what, sizeof(what), "%s-middle", tag);
	rw_plain(d, r, what, mid, 65536, seed + 2);
	snprintf(what, sizeof(what), "%s-last", tag);
	rw_plain(d, r, what, last, 4096, seed + 3);
	snprintf(what, sizeof(what), "%s-vec", tag);
	rw_vec(d, r, what, mid + 256, seed + 4);
	rw_fixed(d, r, tag, mid + 512, reg, seed + 5);

	if (!d->ro)
		expect(d, tag, "flush", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_FLUSH, 0, NULL, 0,
		       NO_FIXED), S_OK);

	/*
	 * The virtio spec forbids the driver to send these: the kernel refuses
	 * them before the device sees them (the QEMU counters of invalid
	 * requests stay 0; tests/vm/guest-smoke.sh checks them).
	 */
	expect(d, tag, "read-past-end-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN,
	       d->sectors, buf, 4096, NO_FIXED), -EINVAL);
	expect(d, tag, "write-straddling-end-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT,
	       d->sectors - 4, buf, 4096, NO_FIXED), -EINVAL);
	/* sector + length wraps around 2^64: must not pass a capacity check. */
	expect(d, tag, "sector-overflow-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN,
	       UINT64_MAX - 3, buf, 4096, NO_FIXED), -EINVAL);
	/*
	 * 2^32 + 8: on a disk above 2 TiB it is in range and must read; a
	 * sector cut to 32 bits anywhere would turn "past the end" below into
	 * a valid sector 0 + ...
	 */
	if (d->sectors > (1ULL << 32) + 16)
		expect(d, tag, "sector-above-2tib-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN,
		       (1ULL << 32) + 8, buf, 4096, NO_FIXED), S_OK);
	else
		expect(d, tag, "sector-above-2tib-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN,
		       (1ULL << 32) + 8, buf, 4096, NO_FIXED), -EINVAL);

	if (d->fault)
		fault_suite(d, r, tag);

	/* Refused before a request exists; a leaked request per try would
	 * exhaust the tags (queue depth <= 1024) long before 1500 tries. */
	snprintf(what, sizeof(what), "%s-vec-fixed-einval", tag);
	res = 0;
	for (int i = 0; i < 1500 && (i == 0 || res == -EINVAL); i++)
		res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO_VEC, T_IN, 0, &iov, 1, 0);
	check(res == -EINVAL, N(d, what), "want -EINVAL, got %s", resname(res));
	snprintf(what, sizeof(what), "%s-io-after-1500-vec-fixed", tag);
	res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf, 4096, NO_FIXED);
	check(res == S_OK, N(d, what), "%s", resname(res));

	snprintf(what, sizeof(what), "%s-type2-eopnotsupp", tag);
	res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, 2, 0, buf, 4096, NO_FIXED);
	check(res == -EOPNOTSUPP, N(d, what), "want -EOPNOTSUPP, got %s", resname(res));
	free(buf);
}

/* The virtio spec's driver rules on lengths and alignment, GET_ID's size. */
static void spec_suite(struct disk *d, struct ring *r)
{
	unsigned char *buf = abuf(8192);
	struct iovec v[2] = { { buf, 512 }, { buf + 512, 488 } };
	char id[ID_BYTES + 1] = { 0 };

	expect(d, "spec", "in-len-100-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf,
	       100, NO_FIXED), -EINVAL);
	expect(d, "spec", "out-len-1000-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 0,
	       buf, 1000, NO_FIXED), -EINVAL);
	expect(d, "spec", "vec-len-1000-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO_VEC, T_IN, 0,
	       v, 2, NO_FIXED), -EINVAL);
	if (d->lbs > 512) {
		expect(d, "spec", "in-len-512-below-block-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO,
		       T_IN, 0, buf, 512, NO_FIXED), -EINVAL);
		expect(d, "spec", "in-sector-1-unaligned-einval", vcmd(r, d->fd,
		       VIRTBLK_URING_CMD_IO, T_IN, 1, buf, d->lbs, NO_FIXED), -EINVAL);
		expect(d, "spec", "in-block-aligned-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN,
		       d->lbs / 512, buf, d->lbs, NO_FIXED), S_OK);
	}
	expect(d, "spec", "get-id-len-512-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_GET_ID, 0,
	       buf, 512, NO_FIXED), -EINVAL);
	expect(d, "spec", "get-id-len-19-einval", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_GET_ID, 0,
	       buf, 19, NO_FIXED), -EINVAL);
	int res = vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_GET_ID, 0, id, ID_BYTES, NO_FIXED);

	check(res == S_OK && !strncmp(id, d->serial, ID_BYTES), N(d, "get-id"),
	      "%s, id '%s', serial '%s'", resname(res), id, d->serial);

	/* flag: bit 0 is what the posted series' programs set; others reserved. */
	expect(d, "flag", "bit0-ignored-io", vcmd_flag(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf,
	       d->lbs, NO_FIXED, 1), S_OK);
	v[1].iov_len = d->lbs - 512;
	if (d->lbs > 512)
		expect(d, "flag", "bit0-ignored-vec", vcmd_flag(r, d->fd, VIRTBLK_URING_CMD_IO_VEC,
		       T_IN, 0, v, 2, NO_FIXED, 1), S_OK);
	else
		expect(d, "flag", "bit0-ignored-vec", vcmd_flag(r, d->fd, VIRTBLK_URING_CMD_IO_VEC,
		       T_IN, 0, v, 1, NO_FIXED, 1), S_OK);
	expect(d, "flag", "bit1-einval", vcmd_flag(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf,
	       d->lbs, NO_FIXED, 2), -EINVAL);
	expect(d, "flag", "bit31-einval", vcmd_flag(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf,
	       d->lbs, NO_FIXED, 0x80000000u), -EINVAL);
	free(buf);
}

/* OUT and FLUSH need the file opened for writing. */
static void rdonly_suite(struct disk *d)
{
	unsigned char *buf = abuf(4096);
	char id[ID_BYTES + 1] = { 0 };
	struct ring r;
	int fd = open(d->cdev, O_RDONLY);

	if (fd < 0) {
		check(false, N(d, "rdonly-open"), "%s", strerror(errno));
		free(buf);
		return;
	}
	if (ring_init(&r, 8, IORING_SETUP_SQE128) == 0) {
		expect(d, "rdonly", "in-ok", vcmd(&r, fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf, 4096,
		       NO_FIXED), S_OK);
		expect(d, "rdonly", "get-id-ok", vcmd(&r, fd, VIRTBLK_URING_CMD_IO, T_GET_ID, 0, id,
		       ID_BYTES, NO_FIXED), S_OK);
		expect(d, "rdonly", "out-ebadf", vcmd(&r, fd, VIRTBLK_URING_CMD_IO, T_OUT, 0, buf,
		       4096, NO_FIXED), -EBADF);
		expect(d, "rdonly", "flush-ebadf", vcmd(&r, fd, VIRTBLK_URING_CMD_IO, T_FLUSH, 0,
		       NULL, 0, NO_FIXED), -EBADF);
		ring_exit(&r);
	}
	close(fd);
	free(buf);
}

static bool write_param(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);
	bool good;

	if (fd < 0)
		return false;
	good = write(fd, v, strlen(v)) == (ssize_t)strlen(v);
	close(fd);
	return good;
}

/* virtio_blk.passthru_rw_only: FLUSH and GET_ID refused as by the distro variant. */
static void rw_only_switch(struct disk *d, struct ring *r)
{
	static const char *param = "/sys/module/virtio_blk/parameters/passthru_rw_only";
	unsigned char *buf = abuf(4096);

	if (!write_param(param, "1")) {
		check(false, N(d, "rw-only-switch"), "cannot set %s: %s", param, strerror(errno));
		free(buf);
		return;
	}
	expect(d, "rw-only", "flush-eopnotsupp", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_FLUSH, 0,
	       NULL, 0, NO_FIXED), -EOPNOTSUPP);
	expect(d, "rw-only", "get-id-eopnotsupp", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_GET_ID, 0,
	       buf, ID_BYTES, NO_FIXED), -EOPNOTSUPP);
	expect(d, "rw-only", "in-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf, 4096,
	       NO_FIXED), S_OK);
	expect(d, "rw-only", "out-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 0, buf, 4096,
	       NO_FIXED), S_OK);
	check(write_param(param, "0"), N(d, "rw-only-switch-off"), "%s", strerror(errno));
	expect(d, "rw-only", "off-flush-ok", vcmd(r, d->fd, VIRTBLK_URING_CMD_IO, T_FLUSH, 0, NULL,
	       0, NO_FIXED), S_OK);
	free(buf);
}

static void disk_suite(struct disk *d, bool first)
{
	struct ring r;
	unsigned char *reg = abuf(16384);
	char what[64], sysv[64];
	struct stat st;
	int res, ret;

	check(stat(d->cdev, &st) == 0 && S_ISCHR(st.st_mode), N(d, "chardev-exists"),
	      "%s is not a char device", d->cdev);
	snprintf(what, sizeof(what), "/sys/class/vblk-generic/%sc0/device", d->name);
	check(access(what, F_OK) == 0, N(d, "class-vblk-generic"), "no %s", what);
	check(read_sys(d->name, "queue/io_poll", sysv, sizeof(sysv)) && !strcmp(sysv, "1"),
	      N(d, "io_poll-1"), "io_poll is '%s'", sysv);

	d->fd = open(d->cdev, O_RDWR);
	if (d->fd < 0) {
		check(false, N(d, "open"), "%s: %s", d->cdev, strerror(errno));
		free(reg);
		return;
	}

	/* Interrupt-driven ring. */
	ret = ring_init(&r, 8, IORING_SETUP_SQE128);
	check(ret == 0, N(d, "ring-sqe128"), "io_uring_setup: %s", strerror(-ret));
	if (ret == 0) {
		ret = ring_register_buffer(&r, reg, 16384);
		check(ret == 0, N(d, "register-buffer"), "%s", strerror(-ret));
		ring_suite(d, &r, "irq", reg, 100);
		spec_suite(d, &r);

		res = vcmd(&r, d->fd, VIRTBLK_URING_CMD_IO, T_FLUSH, 0, reg, 512, NO_FIXED);
		check(res == -EINVAL, N(d, "flush-with-data-einval"), "%s", resname(res));
		res = vcmd(&r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, reg, 0, NO_FIXED);
		check(res == -EINVAL, N(d, "read-no-data-einval"), "%s", resname(res));

		static const uint32_t bad_types[] = { 2, 3, 5, 11, 13, 16, 0x80000000u, 0xffffffffu };
		bool all = true;

		for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
			res = vcmd(&r, d->fd, VIRTBLK_URING_CMD_IO, bad_types[i], 0, reg, 512,
				   NO_FIXED);
			if (res != -EOPNOTSUPP) {
				all = false;
				printf("# type %u: %s\n", bad_types[i], resname(res));
			}
		}
		check(all, N(d, "other-types-eopnotsupp"), "see above");

		res = vcmd(&r, d->fd, 0, T_IN, 0, reg, 512, NO_FIXED);
		check(res == -ENOTTY, N(d, "cmd-op-0-enotty"), "%s", resname(res));
		res = vcmd(&r, d->fd, 3, T_IN, 0, reg, 512, NO_FIXED);
		check(res == -ENOTTY, N(d, "cmd-op-3-enotty"), "%s", resname(res));

		if (first)
			rw_only_switch(d, &r);

		/* Both ways between the char device and the block device. */
		if (d->keeps_data && !d->ro) {
			int bfd = open(d->bdev, O_RDWR | O_DIRECT);
			unsigned char *a = abuf(8192), *b = abuf(8192);
			uint64_t sec = d->sectors / 4;

			check(bfd >= 0, N(d, "open-blockdev-odirect"), "%s", strerror(errno));
			if (bfd >= 0) {
				fill(a, 8192, 777);
				res = vcmd(&r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, sec, a, 8192,
					   NO_FIXED);
				ssize_t n = pread(bfd, b, 8192, (off_t)sec * 512);

				check(res == S_OK && n == 8192 && !memcmp(a, b, 8192),
				      N(d, "cross-c0-write-blockdev-read"), "%s, pread %zd", resname(res), n);
				fill(a, 8192, 888);
				n = pwrite(bfd, a, 8192, (off_t)(sec + 16) * 512);
				memset(b, 0, 8192);
				res = vcmd(&r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, sec + 16, b, 8192,
					   NO_FIXED);
				check(n == 8192 && res == S_OK && !memcmp(a, b, 8192),
				      N(d, "cross-blockdev-write-c0-read"), "pwrite %zd, %s", n, resname(res));
				close(bfd);
			}
			free(a);
			free(b);
		}
		if (d->ro) {
			/* The driver passes it on; the device refuses (VIRTIO_BLK_F_RO). */
			res = vcmd(&r, d->fd, VIRTBLK_URING_CMD_IO, T_OUT, 0, reg, 4096, NO_FIXED);
			check(res == S_IOERR, N(d, "ro-out-ioerr"), "want 1 (IOERR), got %s",
			      resname(res));
		}
		ring_exit(&r);
	}

	/* Polled ring: needs poll queues (virtio_blk.poll_queues=1). */
	ret = ring_init(&r, 8, IORING_SETUP_SQE128 | IORING_SETUP_IOPOLL);
	check(ret == 0, N(d, "ring-iopoll"), "io_uring_setup: %s", strerror(-ret));
	if (ret == 0) {
		ret = ring_register_buffer(&r, reg, 16384);
		check(ret == 0, N(d, "iopoll-register-buffer"), "%s", strerror(-ret));
		ring_suite(d, &r, "poll", reg, 200);
		ring_exit(&r);
	}

	/* A 64-byte SQE cannot hold the command. */
	ret = ring_init(&r, 8, 0);
	if (ret == 0) {
		unsigned char *buf = abuf(4096);

		res = vcmd(&r, d->fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf, 4096, NO_FIXED);
		check(res == -EINVAL, N(d, "no-sqe128-einval"), "want -EINVAL, got %s",
		      resname(res));
		ring_exit(&r);
		free(buf);
	} else {
		check(false, N(d, "no-sqe128-einval"), "io_uring_setup: %s", strerror(-ret));
	}
	close(d->fd);
	rdonly_suite(d);
	free(reg);
}

/* One read as the current user: must be -EACCES (no CAP_SYS_ADMIN). */
static int expect_eacces(const char *cdev)
{
	struct ring r;
	void *buf = abuf(4096);
	int fd, res, ret;

	fd = open(cdev, O_RDWR);
	if (fd < 0) {
		printf("# open %s as uid %d: %s\n", cdev, getuid(), strerror(errno));
		return 2;
	}
	ret = ring_init(&r, 8, IORING_SETUP_SQE128);
	if (ret) {
		printf("# io_uring_setup: %s\n", strerror(-ret));
		return 2;
	}
	res = vcmd(&r, fd, VIRTBLK_URING_CMD_IO, T_IN, 0, buf, 4096, NO_FIXED);
	ring_exit(&r);
	close(fd);
	if (res != -EACCES) {
		printf("# uid %d: want -EACCES, got %s\n", getuid(), resname(res));
		return 1;
	}
	return 0;
}

/* Same, from a child that dropped to uid/gid 65534 (nobody). */
static void unprivileged_check(struct disk *d)
{
	struct stat st;
	pid_t pid;
	int status = -1;

	if (stat(d->cdev, &st))
		return;
	/* Let nobody open the node: the command itself must refuse. */
	chmod(d->cdev, 0666);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(3);
		_exit(expect_eacces(d->cdev));
	}
	waitpid(pid, &status, 0);
	chmod(d->cdev, st.st_mode & 07777);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, N(d, "nonroot-eacces"),
	      "child status %d", status);
}

static bool disk_init(struct disk *d, const char *name)
{
	char v[64];

	memset(d, 0, sizeof(*d));
	d->name = name;
	snprintf(d->cdev, sizeof(d->cdev), "/dev/%sc0", name);
	snprintf(d->bdev, sizeof(d->bdev), "/dev/%s", name);
	if (!read_sys(name, "size", v, sizeof(v)))
		return false;
	d->sectors = strtoull(v, NULL, 10);
	d->lbs = sys_u64(name, "queue/logical_block_size");
	if (d->lbs < 512)
		d->lbs = 512;
	d->ro = sys_u64(name, "ro") != 0;
	read_sys(name, "serial", d->serial, sizeof(d->serial));
	d->keeps_data = strcmp(d->serial, "vbnull") != 0;
	d->fault = !strcmp(d->serial, "vbfault");
	return true;
}

/* ---- load: the I/O that runs while a disk is removed -------------------- */

static struct io_uring_sqe *sqe_at(struct ring *r, unsigned int tail)
{
	unsigned int idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)(r->sqes + idx * r->sqe_size);

	memset(sqe, 0, r->sqe_size);
	r->sq_array[idx] = idx;
	return sqe;
}

/* The disk name of /dev/vdX or /dev/vdXc0. */
static void disk_of(const char *path, char *name, size_t len)
{
	const char *b = strrchr(path, '/');

	snprintf(name, len, "%s", b ? b + 1 : path);
	size_t n = strlen(name);

	if (n > 2 && !strcmp(name + n - 2, "c0"))
		name[n - 2] = 0;
}

static int load(const char *path, const char *mode, int qd, int seconds)
{
	bool pt = !strncmp(mode, "pt", 2), poll = strstr(mode, "poll") != NULL;
	char disk[64];
	uint64_t blocks, done = 0, rnd = 88172645463325252ULL;
	unsigned int tail, inflight = 0;
	unsigned char *bufs;
	bool running = false, stop = false;
	int first_err = 0, fd, ret;
	bool short_read = false;
	double t0 = now_s(), t_err = 0;
	struct ring r;

	disk_of(path, disk, sizeof(disk));
	blocks = sys_u64(disk, "size") / 8;
	if (!blocks || qd < 1 || qd > 128) {
		printf("load: no disk %s, or bad depth %d\n", disk, qd);
		return 2;
	}
	fd = open(path, pt ? O_RDWR : O_RDONLY | O_DIRECT);
	if (fd < 0) {
		printf("load: open %s: %s\n", path, strerror(errno));
		return 2;
	}
	ret = ring_init(&r, qd, (pt ? IORING_SETUP_SQE128 : 0) | (poll ? IORING_SETUP_IOPOLL : 0));
	if (ret) {
		printf("load: io_uring_setup: %s\n", strerror(-ret));
		return 2;
	}
	bufs = abuf((size_t)qd * 4096);
	tail = *r.sq_tail;
	for (;;) {
		unsigned int n = 0;

		while (!stop && inflight + n < (unsigned int)qd) {
			struct io_uring_sqe *sqe = sqe_at(&r, tail + n);
			unsigned int slot = (tail + n) % qd;
			uint64_t blk;

			rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
			blk = rnd % blocks;
			sqe->fd = fd;
			sqe->user_data = slot;
			if (pt) {
				struct virtblk_uring_cmd c = {
					.type = T_IN, .sector = blk * 8,
					.data = (uint64_t)(uintptr_t)(bufs + slot * 4096),
					.data_len = 4096,
				};

				sqe->opcode = IORING_OP_URING_CMD;
				sqe->cmd_op = VIRTBLK_URING_CMD_IO;
				memcpy((unsigned char *)sqe + 48, &c, sizeof(c));
			} else {
				sqe->opcode = IORING_OP_READ;
				sqe->addr = (uint64_t)(uintptr_t)(bufs + slot * 4096);
				sqe->len = 4096;
				sqe->off = blk * 4096;
			}
			n++;
		}
		tail += n;
		/* The kernel reads the SQEs only after it sees the new tail. */
		__atomic_store_n(r.sq_tail, tail, __ATOMIC_RELEASE);
		inflight += n;
		if (!inflight)
			break;
		ret = syscall(__NR_io_uring_enter, r.fd, n, 1, IORING_ENTER_GETEVENTS, NULL, 0);
		if (ret < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) {
			if (!first_err)
				first_err = -errno, t_err = now_s();
			printf("load: io_uring_enter: %s\n", strerror(errno));
			break;
		}
		for (;;) {
			unsigned int head = *r.cq_head;

			/* Acquire: the CQE's contents are visible once the tail is. */
			if (head == __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE))
				break;
			int res = r.cqes[head & *r.cq_mask].res;

			__atomic_store_n(r.cq_head, head + 1, __ATOMIC_RELEASE);
			inflight--;
			if ((pt && res != 0) || (!pt && res != 4096)) {
				/* A removed disk has size 0: the block path reads 0 bytes. */
				if (!first_err)
					first_err = res, short_read = res >= 0, t_err = now_s();
				stop = true;
			} else {
				done++;
			}
		}
		if (!running && done) {
			running = true;
			printf("load: running\n");
		}
		if (now_s() - t0 > seconds)
			stop = true;
	}
	ring_exit(&r);
	close(fd);
	free(bufs);
	if (!first_err && !short_read) {
		printf("load: %s %s: no error in %d s, %llu reads\n", mode, path, seconds,
		       (unsigned long long)done);
		return 3;
	}
	/* CLOCK_BOOTTIME is /proc/uptime's clock: the caller can compare. */
	printf("load: %s %s: ended by %s after %llu reads; drained %.2f s after the error; error at uptime %.2f\n",
	       mode, path, short_read ? "a short read (the disk's size is 0 now)" : resname(first_err),
	       (unsigned long long)done, now_s() - t_err, t_err);
	return 0;
}

/* ---- bench: what one passthrough read costs ----------------------------- */

static int bench(const char *cdev, long count)
{
	unsigned char *buf = abuf(4096);
	struct ring r;
	double t;
	int fd = open(cdev, O_RDWR);

	if (fd < 0 || ring_init(&r, 32, IORING_SETUP_SQE128)) {
		printf("bench: %s: %s\n", cdev, strerror(errno));
		return 2;
	}
	t = now_s();
	for (long i = 0; i < count; i++) {
		if (vcmd(&r, fd, VIRTBLK_URING_CMD_IO, T_IN, (i % 1024) * 8, buf, 4096, NO_FIXED)) {
			printf("bench: read %ld failed\n", i);
			return 1;
		}
	}
	t = now_s() - t;
	printf("bench: %s qd1: %ld reads, %.0f ns/read, %.0f reads/s\n", cdev, count,
	       t * 1e9 / count, count / t);
	/*
	 * The submission path alone, without the device: a buffer address that
	 * is not mapped fails in blk_rq_map_user_io() (-EFAULT) after the
	 * request was allocated, so each try pays validation, allocation,
	 * freeing and whatever lock the driver takes, but no device round trip.
	 */
	t = now_s();
	for (long i = 0; i < count; i++) {
		if (vcmd(&r, fd, VIRTBLK_URING_CMD_IO, T_IN, 0, (void *)4096, 4096, NO_FIXED) != -EFAULT) {
			printf("bench: try %ld did not fail with -EFAULT\n", i);
			return 1;
		}
	}
	t = now_s() - t;
	printf("bench: %s submit path (-EFAULT): %ld tries, %.0f ns/try\n", cdev, count,
	       t * 1e9 / count);
	ring_exit(&r);
	close(fd);
	free(buf);
	return 0;
}

/*
 * The probe error path (kernel/0001): a disk that probe adds and then tears
 * down because its char device could not be added may still be held open by
 * whoever opened it in between.  Once the virtio device is gone too, such an
 * opener's HDIO_GETGEO must get -ENXIO (vblk->vdev cleared), not reach the
 * freed vdev.  This opens NODE in a tight loop so that it wins that window.
 */
static int catch_open(const char *node, int seconds, const char *go)
{
	double deadline = now_s() + seconds;
	struct hd_geometry geo;
	long tries = 0;
	int fd = -1, rc;

	/* Until it opens, the time is up, or GO says another opener got in. */
	while (fd < 0 && now_s() < deadline && (tries % 64 || access(go, F_OK) != 0)) {
		fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		tries++;
	}
	if (fd < 0) {
		printf("catch: never opened %s in %ld tries%s%s\n", node, tries, tries ? ": " : "",
		       tries ? strerror(errno) : "");
		return 2;
	}
	printf("catch: opened %s at uptime %.3f after %ld tries\n", node, now_s(), tries);
	while (access(go, F_OK) != 0 && now_s() < deadline + seconds)
		usleep(10000);
	rc = ioctl(fd, HDIO_GETGEO, &geo);
	printf("catch: HDIO_GETGEO at uptime %.3f: %d (%s)\n", now_s(), rc,
	       rc ? strerror(errno) : "answered");
	close(fd);
	return rc < 0 && errno == ENXIO ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *names[16];
	int n = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "--expect-eacces")) {
		char cdev[64], serial[64] = "";
		int rc;

		snprintf(cdev, sizeof(cdev), "/dev/%sc0", argv[2]);
		read_sys(argv[2], "serial", serial, sizeof(serial));
		rc = expect_eacces(cdev);
		printf("%s %s-nonroot-eacces-setpriv\n", rc ? "FAIL" : "ok", serial[0] ? serial : argv[2]);
		printf("%d passed, %d failed\n", !rc, !!rc);
		return !!rc;
	}
	if (argc == 6 && !strcmp(argv[1], "--load"))
		return load(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "--bench"))
		return bench(argv[2], atol(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "--catch-open"))
		return catch_open(argv[2], atoi(argv[3]), argv[4]);
	for (int i = 1; i < argc && n < 16; i++)
		names[n++] = argv[i];
	if (n == 0) {
		static char found[16][16];

		for (char c = 'a'; c <= 'z' && n < 16; c++) {
			snprintf(found[n], sizeof(found[n]), "vd%c", c);
			char p[64];

			snprintf(p, sizeof(p), "/sys/block/%s", found[n]);
			if (access(p, F_OK) == 0)
				names[n] = found[n], n++;
		}
	}
	check(n > 0, "disks-found", "no virtio disks");
	for (int i = 0; i < n; i++) {
		struct disk d;

		if (!disk_init(&d, names[i])) {
			check(false, names[i], "no /sys/block/%s", names[i]);
			continue;
		}
		printf("# %s: %llu sectors, %u-byte blocks, serial '%s'%s%s\n", d.name,
		       (unsigned long long)d.sectors, d.lbs, d.serial,
		       d.keeps_data ? "" : " (null device: status codes only)",
		       d.ro ? " (read-only)" : "");
		disk_suite(&d, i == 0);
		unprivileged_check(&d);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
