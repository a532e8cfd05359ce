// SPDX-License-Identifier: GPL-2.0
/*
 * vb2fp-selftest: checks the /dev/vb2_fence_probe contract of README.md that
 * needs no V4L2 device: node mode, unprivileged open, ioctl errors, the query
 * on dma-bufs with no and with one fence, and the record line format.
 * Run as root with the module loaded. Prints PASS/FAIL/SKIP lines and, on
 * every way out, the summary "<P> passed, <F> failed, <S> skipped"; exits 1
 * if anything failed.
 *
 * With --vim2m /dev/videoN it also runs one vim2m job (MMAP, CAPTURE buffer
 * exported with EXPBUF) and checks that QUERY on the export shows the
 * series' unsignalled WRITE fence (driver "vb2") while the job runs, and
 * the same fence signalled after DQBUF. That needs the fence series.
 *
 * The fence for the query test comes from the dma-buf uAPI itself:
 * DMA_BUF_IOCTL_EXPORT_SYNC_FILE on an idle buffer returns a sync_file with
 * the (signalled) stub fence, and DMA_BUF_IOCTL_IMPORT_SYNC_FILE puts it on
 * the reservation with WRITE usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/videodev2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../vb2_fence_probe_uapi.h"

#define DEV "/dev/vb2_fence_probe"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int failed, passed, skipped;

static void check(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		passed++;
		return;
	}
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static void skip(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void skip(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("SKIP %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	skipped++;
}

/* The summary line; the exit status. */
static int summary(void)
{
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}

/* ioctl expecting failure with @want; returns 1 if so. */
static int expect_errno(int fd, unsigned long req, void *arg, int want,
			int *got)
{
	int r = ioctl(fd, req, arg);

	*got = r < 0 ? errno : 0;
	return r < 0 && errno == want;
}

static int heap_buf(size_t len)
{
	struct dma_heap_allocation_data a = {
		.len = len, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

	if (heap < 0)
		return -1;
	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) < 0) {
		close(heap);
		return -1;
	}
	close(heap);
	return a.fd;
}

/* Every record line has exactly these keys in this order. */
static const char *const keys[] = {
	"seq", "ts_ns", "event", "queue", "type", "index", "plane", "ino",
	"ctx", "seqno", "usage", "reason", "error",
};

static int line_ok(char *line)
{
	unsigned int i = 0;
	char *save, *tok;

	if (!strncmp(line, "overflow dropped=", 17))
		return line[17] >= '0' && line[17] <= '9';
	for (tok = strtok_r(line, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save), i++) {
		size_t k;

		if (i >= ARRAY_SIZE(keys))
			return 0;
		k = strlen(keys[i]);
		if (strncmp(tok, keys[i], k) || tok[k] != '=' || !tok[k + 1])
			return 0;
	}
	return i == ARRAY_SIZE(keys);
}

static void test_read_format(int dev)
{
	static char buf[1 << 20];
	size_t len = 0;
	ssize_t n;
	int lines = 0, bad = 0;
	char *p, *nl;

	if (lseek(dev, 0, SEEK_SET) < 0) {
		check(0, "read_format", "lseek: %s", strerror(errno));
		return;
	}
	while (len < sizeof(buf) - 1 &&
	       (n = read(dev, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	buf[len] = 0;
	for (p = buf; (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = 0;
		lines++;
		if (!line_ok(p)) {
			printf("  bad line: %s\n", p);
			bad++;
		}
	}
	check(!bad && !*p, "read_format", "%d of %d lines malformed%s", bad,
	      lines, *p ? ", unterminated tail" : "");
	printf("  %d record lines\n", lines);
}

/* vim2m's private "Transaction Time (msec)" control. */
#define VIM2M_CID_TRANS_TIME_MSEC	(V4L2_CID_USER_BASE + 0x1000)

static int vq_setup(int vfd, enum v4l2_buf_type type)
{
	struct v4l2_requestbuffers rb = {
		.count = 1, .type = type, .memory = V4L2_MEMORY_MMAP,
	};

	return ioctl(vfd, VIDIOC_REQBUFS, &rb) < 0 || rb.count < 1 ? -1 : 0;
}

static int vq_qbuf(int vfd, enum v4l2_buf_type type)
{
	struct v4l2_buffer b = {
		.index = 0, .type = type, .memory = V4L2_MEMORY_MMAP,
	};

	if (ioctl(vfd, VIDIOC_QUERYBUF, &b) < 0)
		return -1;
	if (type == V4L2_BUF_TYPE_VIDEO_OUTPUT)
		b.bytesused = b.length;
	return ioctl(vfd, VIDIOC_QBUF, &b);
}

static void test_vim2m(int dev, const char *node)
{
	struct v4l2_control ctrl = {
		.id = VIM2M_CID_TRANS_TIME_MSEC, .value = 1500,
	};
	struct v4l2_exportbuffer ex = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .index = 0,
		.flags = O_RDONLY | O_CLOEXEC,
	};
	struct v4l2_buffer b = {
		.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP,
	};
	enum v4l2_buf_type out = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	enum v4l2_buf_type cap = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct vb2fp_query q;
	struct vb2fp_fence f[4];
	int vfd, ok;

	vfd = open(node, O_RDWR | O_CLOEXEC);
	if (vfd < 0 || ioctl(vfd, VIDIOC_S_CTRL, &ctrl) < 0 ||
	    vq_setup(vfd, out) || vq_setup(vfd, cap) ||
	    ioctl(vfd, VIDIOC_EXPBUF, &ex) < 0) {
		check(0, "vim2m_setup", "%s: %s", node, strerror(errno));
		goto out;
	}
	if (vq_qbuf(vfd, out) || vq_qbuf(vfd, cap) ||
	    ioctl(vfd, VIDIOC_STREAMON, &out) < 0 ||
	    ioctl(vfd, VIDIOC_STREAMON, &cap) < 0) {
		check(0, "vim2m_stream", "%s", strerror(errno));
		goto out_exp;
	}
	usleep(300000);		/* job armed, 1.5 s "hardware" time left */

	memset(&q, 0, sizeof(q));
	memset(f, 0, sizeof(f));
	q.fd = ex.fd;
	q.capacity = 4;
	q.entries = (uintptr_t)f;
	ok = ioctl(dev, VB2FP_IOC_QUERY, &q) == 0 && q.count == 1 &&
	     f[0].usage == VB2FP_USAGE_WRITE && f[0].signaled == 0 &&
	     !strcmp(f[0].driver, "vb2");
	check(ok, "vim2m_live_fence", "count %u usage %u signaled %u driver %.32s",
	      q.count, f[0].usage, f[0].signaled, f[0].driver);
	printf("  live: ctx=%llu seqno=%llu driver=%.32s timeline=%.32s\n",
	       (unsigned long long)f[0].context,
	       (unsigned long long)f[0].seqno, f[0].driver, f[0].timeline);

	if (ioctl(vfd, VIDIOC_DQBUF, &b) < 0) {
		check(0, "vim2m_dqbuf", "%s", strerror(errno));
		goto out_exp;
	}
	memset(f, 0, sizeof(f));
	ok = ioctl(dev, VB2FP_IOC_QUERY, &q) == 0 && q.count == 1 &&
	     f[0].signaled == 1 && f[0].error == 0;
	check(ok, "vim2m_fence_signalled_after_dqbuf",
	      "count %u signaled %u error %d", q.count, f[0].signaled,
	      f[0].error);
	ioctl(vfd, VIDIOC_STREAMOFF, &out);
	ioctl(vfd, VIDIOC_STREAMOFF, &cap);
out_exp:
	close(ex.fd);
out:
	if (vfd >= 0)
		close(vfd);
}

int main(int argc, char **argv)
{
	struct vb2fp_fence f[4];
	struct vb2fp_query q;
	struct stat st;
	int dev, buf, got, devnull, status;
	pid_t pid;

	if (stat(DEV, &st) < 0) {
		check(0, "node", "%s: %s", DEV, strerror(errno));
		return summary();
	}
	check(S_ISCHR(st.st_mode) && (st.st_mode & 07777) == 0600 &&
	      st.st_uid == 0, "node_mode_0600", "mode %o uid %u",
	      st.st_mode & 07777, st.st_uid);

	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(open(DEV, O_RDONLY) < 0 && errno == EACCES ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "unprivileged_open_eacces", "child status %d", status);

	dev = open(DEV, O_RDONLY | O_CLOEXEC);
	if (dev < 0) {
		check(0, "open", "%s", strerror(errno));
		return summary();
	}

	test_read_format(dev);
	if (argc > 1 && !strcmp(argv[1], "--format-only"))
		goto out;
	if (argc > 2 && !strcmp(argv[1], "--vim2m")) {
		test_vim2m(dev, argv[2]);
		goto out;
	}

	check(ioctl(dev, VB2FP_IOC_RESET) == 0, "reset", "%s", strerror(errno));
	check(expect_errno(dev, _IO('V', 0xF2), NULL, ENOTTY, &got),
	      "unknown_ioctl_enotty", "errno %d", got);

	memset(&q, 0, sizeof(q));
	q.fd = -1;
	check(expect_errno(dev, VB2FP_IOC_QUERY, &q, EBADF, &got),
	      "query_negative_fd_ebadf", "errno %d", got);
	devnull = open("/dev/null", O_RDONLY);
	close(devnull);
	q.fd = devnull;		/* just closed */
	check(expect_errno(dev, VB2FP_IOC_QUERY, &q, EBADF, &got),
	      "query_closed_fd_ebadf", "errno %d", got);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	q.fd = devnull;
	check(expect_errno(dev, VB2FP_IOC_QUERY, &q, EINVAL, &got),
	      "query_not_dmabuf_einval", "errno %d", got);
	check(expect_errno(dev, VB2FP_IOC_QUERY, (void *)8, EFAULT, &got),
	      "query_bad_arg_efault", "errno %d", got);

	buf = heap_buf(4096);
	if (buf < 0) {
		skip("query_*", "no /dev/dma_heap/system buffer: %s",
		     strerror(errno));
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.fd = buf;
	q.pad = 1;
	check(expect_errno(dev, VB2FP_IOC_QUERY, &q, EINVAL, &got),
	      "query_pad_einval", "errno %d", got);
	q.pad = 0;
	q.count = 77;
	check(ioctl(dev, VB2FP_IOC_QUERY, &q) == 0 && q.count == 0,
	      "query_idle_buffer_zero", "count %u errno %d", q.count, errno);

	{
		struct dma_buf_export_sync_file ex = {
			.flags = DMA_BUF_SYNC_WRITE, .fd = -1,
		};
		struct dma_buf_import_sync_file im = {
			.flags = DMA_BUF_SYNC_WRITE,
		};

		if (ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) < 0) {
			skip("query_one_fence", "export sync_file: %s",
			     strerror(errno));
			goto out;
		}
		im.fd = ex.fd;
		if (ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im) < 0) {
			skip("query_one_fence", "import sync_file: %s",
			     strerror(errno));
			goto out;
		}
		close(ex.fd);
	}

	/* capacity 0, entries NULL: count only. */
	memset(&q, 0, sizeof(q));
	q.fd = buf;
	check(ioctl(dev, VB2FP_IOC_QUERY, &q) == 0 && q.count == 1,
	      "query_count_only", "count %u errno %d", q.count, errno);

	memset(f, 0xa5, sizeof(f));
	q.capacity = 4;
	q.entries = (uintptr_t)f;
	check(ioctl(dev, VB2FP_IOC_QUERY, &q) == 0 && q.count == 1 &&
	      f[0].usage == VB2FP_USAGE_WRITE && f[0].signaled == 1 &&
	      f[0].error == 0 && f[0].pad == 0 && f[0].driver[0] &&
	      memchr(f[0].driver, 0, sizeof(f[0].driver)) &&
	      memchr(f[0].timeline, 0, sizeof(f[0].timeline)) &&
	      f[1].usage == 0xa5a5a5a5,
	      "query_one_fence", "count %u usage %u signaled %u error %d",
	      q.count, f[0].usage, f[0].signaled, f[0].error);
	printf("  fence ctx=%llu seqno=%llu driver=%.32s timeline=%.32s\n",
	       (unsigned long long)f[0].context,
	       (unsigned long long)f[0].seqno, f[0].driver, f[0].timeline);

	q.entries = 8;
	check(expect_errno(dev, VB2FP_IOC_QUERY, &q, EFAULT, &got),
	      "query_bad_entries_efault", "errno %d", got);
	close(buf);
	close(devnull);
out:
	close(dev);
	return summary();
}
