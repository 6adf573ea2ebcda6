/*
 * vbload: a minimal io_uring load generator, the C peer of Invoke-VirtioBlkBenchmark's engine.
 *
 * Raw syscalls only (no liburing), and the engine's loop, knob for knob: one ring, QD I/Os in flight, prepare up to
 * a submit batch while the depth has room, submit and wait for a complete batch in one io_uring_enter once the depth
 * is full (t/io_uring's rule), reap every ready CQE without a syscall. Same ring flags as the engine
 * (SINGLE_ISSUER | COOP_TASKRUN | TASKRUN_FLAG, registered ring fd), same offset generator (xorshift64 and a
 * multiply-high onto the block count), both paths: the block device (READ/READ_FIXED, O_DIRECT or buffered) and the
 * virtio-blk char device (IORING_OP_URING_CMD with 128-byte SQEs, VIRTBLK_URING_CMD_IO, IORING_URING_CMD_FIXED),
 * polled (IORING_SETUP_IOPOLL) or not. Reads only: it is a peer for read benchmarks.
 *
 * Prints one line: "iops=<n> ios=<n> seconds=<s> errors=<n> cpu_ns_per_io=<n>" over the measured part (after -w
 * warm-up seconds); cpu_ns_per_io is the thread's user + system CPU time per I/O, which a busy machine's run queue
 * does not inflate the way it inflates wall-clock IOPS.
 *
 *   vbload -p /dev/loop0 -b 4096 -d 32 -s 8 -c 8 [-B] [-F] [-O 0|1] [-P] [-u] [-R 0|1] [-r secs | -n ios] [-w secs]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/linux/virtio_blk.h of the patched kernel (as tests/vm/c/vblk-passthru-test.c). */
struct virtblk_uring_cmd {
	uint32_t type, ioprio;
	uint64_t sector, data;
	uint32_t data_len, flag;
};
#define VIRTBLK_URING_CMD_IO 1
#define VIRTIO_BLK_T_IN 0

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif

static long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* This thread's CPU time (user + system), as the engine reads its workers' (getrusage RUSAGE_THREAD). */
static long cpu_ns(void)
{
	struct rusage u;
	getrusage(RUSAGE_THREAD, &u);
	return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000L + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000L;
}

static void die(const char *what)
{
	fprintf(stderr, "vbload: %s: %s\n", what, strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int bs = 4096, qd = 32, sbatch = 8, cbatch = 8, fixedbufs = 0, fixedfiles = 0, direct = 1, poll = 0, cmd = 0, rnd = 1;
	double secs = 3, warm = 0;
	long limit = 0; /* -n: stop issuing after this many I/Os (for instruction counts), instead of -r */
	int o;
	while ((o = getopt(argc, argv, "p:b:d:s:c:BFO:PuR:r:w:n:")) != -1) {
		switch (o) {
		case 'p': path = optarg; break;
		case 'b': bs = atoi(optarg); break;
		case 'd': qd = atoi(optarg); break;
		case 's': sbatch = atoi(optarg); break;
		case 'c': cbatch = atoi(optarg); break;
		case 'B': fixedbufs = 1; break;
		case 'F': fixedfiles = 1; break;
		case 'O': direct = atoi(optarg); break;
		case 'P': poll = 1; break;
		case 'u': cmd = 1; break;
		case 'R': rnd = atoi(optarg); break;
		case 'r': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 'n': limit = atol(optarg); break;
		default: fprintf(stderr, "usage: see the comment at the top of vbload.c\n"); return 2;
		}
	}
	if (!path || qd < 1 || sbatch < 1 || cbatch < 1) { fprintf(stderr, "vbload: -p PATH needed\n"); return 2; }
	if (sbatch > qd) sbatch = qd;
	if (cbatch > qd) cbatch = qd;

	int fd = open(path, O_RDONLY | (direct && !cmd ? O_DIRECT : 0));
	if (fd < 0) die(path);
	uint64_t size = 0;
	if (cmd) {
		/* The char device has no size: -p /dev/vdXc0 takes the block device's (/dev/vdX). */
		char blk[256];
		snprintf(blk, sizeof blk, "%.*s", (int)(strlen(path) - 2), path);
		int bfd = open(blk, O_RDONLY);
		if (bfd < 0 || ioctl(bfd, BLKGETSIZE64, &size) < 0) die(blk);
		close(bfd);
	} else if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
		die("BLKGETSIZE64");
	}
	uint64_t blocks = size / (uint64_t)bs;

	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG
		| (cmd ? IORING_SETUP_SQE128 : 0) | (poll ? IORING_SETUP_IOPOLL : 0);
	int ring = (int)syscall(__NR_io_uring_setup, qd, &p);
	if (ring < 0) die("io_uring_setup");
	size_t sqe_size = cmd ? 128 : 64;
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if ((p.features & IORING_FEAT_SINGLE_MMAP) && cq_len > sq_len) sq_len = cq_len;
	unsigned char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED) die("mmap sq");
	unsigned char *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq
		: mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	if (cq == MAP_FAILED) die("mmap cq");
	unsigned char *sqes = mmap(NULL, p.sq_entries * sqe_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sqes == MAP_FAILED) die("mmap sqes");
	uint32_t *sq_tail = (uint32_t *)(sq + p.sq_off.tail), *sq_array = (uint32_t *)(sq + p.sq_off.array);
	uint32_t sq_mask = *(uint32_t *)(sq + p.sq_off.ring_mask);
	uint32_t *cq_head = (uint32_t *)(cq + p.cq_off.head), *cq_tail = (uint32_t *)(cq + p.cq_off.tail);
	uint32_t cq_mask = *(uint32_t *)(cq + p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	for (uint32_t i = 0; i < p.sq_entries; i++) sq_array[i] = i;

	unsigned char *buf;
	if (posix_memalign((void **)&buf, 4096, (size_t)bs * qd)) die("posix_memalign");
	memset(buf, 0, (size_t)bs * qd);
	if (fixedbufs) {
		struct iovec iov = { buf, (size_t)bs * qd };
		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1) < 0) die("register buffers");
	}
	int sqe_fd = fd;
	if (fixedfiles) {
		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_FILES, &fd, 1) < 0) die("register files");
		sqe_fd = 0;
	}
	int enter_fd = ring;
	unsigned enter_flags = 0;
	struct io_uring_rsrc_update up = { .offset = -1U, .data = (uint64_t)ring };
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_RING_FDS, &up, 1) == 1) {
		enter_fd = (int)up.offset;
		enter_flags = IORING_ENTER_REGISTERED_RING;
	}

	int *freelist = malloc(sizeof(int) * qd), nfree = qd;
	for (int i = 0; i < qd; i++) freelist[i] = qd - 1 - i;
	uint64_t rng = 0x9E3779B97F4A7C15ULL, seq = 0;
	uint32_t tail = *sq_tail, unsubmitted = 0;
	long inflight = 0, issued = 0, done = 0, errors = 0, measured_from_ios = 0;
	long start = now_ns(), measure = start + (long)(warm * 1e9), end = measure + (long)(secs * 1e9), measure_at = 0, last = 0;
	int stopping = 0, measuring = warm <= 0;
	long cpu0 = cpu_ns();
	if (measuring) measure_at = start;

	for (;;) {
		long t = now_ns();
		if (!measuring && t >= measure) { measuring = 1; measure_at = t; measured_from_ios = done; cpu0 = cpu_ns(); }
		if (!stopping && (limit > 0 ? issued >= limit : t >= end)) stopping = 1;
		int toprep = stopping ? 0 : (nfree < sbatch ? nfree : sbatch);
		if (limit > 0 && toprep > limit - issued) toprep = (int)(limit - issued);
		issued += toprep;
		for (int i = 0; i < toprep; i++) {
			int slot = freelist[--nfree];
			rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
			uint64_t block = rnd ? (uint64_t)(((unsigned __int128)rng * blocks) >> 64) : seq;
			if (!rnd && ++seq == blocks) seq = 0;
			uint64_t off = block * (uint64_t)bs;
			struct io_uring_sqe *sqe = (struct io_uring_sqe *)(sqes + (size_t)(tail & sq_mask) * sqe_size);
			memset(sqe, 0, sqe_size);
			sqe->fd = sqe_fd;
			sqe->user_data = (uint64_t)slot;
			if (fixedfiles) sqe->flags = IOSQE_FIXED_FILE;
			if (cmd) {
				struct virtblk_uring_cmd c = { .type = VIRTIO_BLK_T_IN, .sector = off >> 9,
					.data = (uint64_t)(uintptr_t)(buf + (size_t)slot * bs), .data_len = (uint32_t)bs };
				sqe->opcode = IORING_OP_URING_CMD;
				sqe->cmd_op = VIRTBLK_URING_CMD_IO;
				if (fixedbufs) { sqe->uring_cmd_flags = IORING_URING_CMD_FIXED; sqe->buf_index = 0; }
				memcpy((unsigned char *)sqe + 48, &c, sizeof c);
			} else {
				sqe->opcode = fixedbufs ? IORING_OP_READ_FIXED : IORING_OP_READ;
				sqe->addr = (uint64_t)(uintptr_t)(buf + (size_t)slot * bs);
				sqe->len = (uint32_t)bs;
				sqe->off = off;
			}
			tail++;
			unsubmitted++;
		}
		/* The kernel reads the SQEs once it sees the new tail: release. */
		__atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
		inflight += toprep;
		if (inflight == 0) break;
		unsigned wait = !stopping && nfree > 0 ? 0 : (unsigned)(inflight < cbatch ? inflight : cbatch);
		unsigned flags = enter_flags | (wait > 0 || poll ? IORING_ENTER_GETEVENTS : 0);
		if (unsubmitted > 0 || (flags & IORING_ENTER_GETEVENTS)) {
			int r = (int)syscall(__NR_io_uring_enter, enter_fd, unsubmitted, wait, flags, NULL, 0);
			if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) die("io_uring_enter");
			if (r > 0) unsubmitted -= (uint32_t)r;
		}
		uint32_t head = *cq_head, ctail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
		int n = 0;
		for (; head != ctail; head++, n++) {
			struct io_uring_cqe *c = &cqes[head & cq_mask];
			if (cmd ? c->res != 0 : c->res != bs) errors++;
			else done++;
			freelist[nfree++] = (int)c->user_data;
		}
		__atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
		inflight -= n;
		if (n > 0 && measuring) last = now_ns();
	}
	double s = (last > measure_at ? last - measure_at : 1) / 1e9;
	long ios = done - measured_from_ios;
	long cpu = cpu_ns() - cpu0;
	printf("iops=%.0f ios=%ld seconds=%.3f errors=%ld cpu_ns_per_io=%.1f\n", ios / s, ios, s, errors, ios ? (double)cpu / ios : 0.0);
	return errors ? 1 : 0;
}
