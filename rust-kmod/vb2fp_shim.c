// SPDX-License-Identifier: GPL-2.0
/*
 * vb2_fence_probe: the C half.
 *
 * Rust-for-Linux (7.2) has no bindings for videobuf2, dma_fence or dma_resv,
 * and an out-of-tree module cannot add any, so this file does only what needs
 * those headers: it attaches probes to the vb2_fence_* tracepoints and to
 * vb2_dqbuf (exported by videobuf2-common, vb2-trace.c), copies the fields of
 * interest into a plain struct for the Rust side, it walks a
 * dma-buf's reservation object under its lock, and it wraps the irqsave
 * spinlock macros (7.2's Rust SpinLock has no irqsave variant). The ring,
 * the text format, the misc device and all user-memory access are Rust.
 */

#include <linux/build_bug.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>
#include <media/videobuf2-core.h>
#include <trace/events/vb2.h>

#include "vb2fp_shim.h"

static_assert(sizeof(struct vb2fp_event) == 120);
static_assert(sizeof(struct vb2fp_fence) == 96);
static_assert(sizeof(struct vb2fp_query) == 24);
static_assert(DMA_RESV_USAGE_KERNEL == VB2FP_USAGE_KERNEL);
static_assert(DMA_RESV_USAGE_WRITE == VB2FP_USAGE_WRITE);
static_assert(DMA_RESV_USAGE_READ == VB2FP_USAGE_READ);
static_assert(DMA_RESV_USAGE_BOOKKEEP == VB2FP_USAGE_BOOKKEEP);

/*
 * Probes may run in hard IRQ context (hantro/rga complete from their IRQ
 * handler): no sleeping, no allocation, nothing but field copies here.
 */
static void vb2fp_fill_common(struct vb2fp_event *ev, u32 kind,
			      struct vb2_buffer *vb)
{
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = ktime_get_ns();
	ev->kind = kind;
	ev->type = vb->vb2_queue->type;
	ev->index = vb->index;
	ev->plane = VB2FP_NONE;
	ev->usage = VB2FP_NONE;
	/* q->name may be unterminated if a driver filled all 32 bytes. */
	strscpy(ev->queue, vb->vb2_queue->name, sizeof(ev->queue));
}

static void vb2fp_probe_arm(void *data, struct vb2_buffer *vb,
			    unsigned int plane, u64 dbuf_ino,
			    struct dma_fence *fence, enum dma_resv_usage usage)
{
	struct vb2fp_event ev;

	vb2fp_fill_common(&ev, VB2FP_EV_ARM, vb);
	ev.plane = plane;
	ev.ino = dbuf_ino;
	ev.context = fence->context;
	ev.seqno = fence->seqno;
	ev.usage = usage;
	vb2fp_rust_record(data, &ev);
}

static void vb2fp_probe_skip(void *data, struct vb2_buffer *vb,
			     unsigned int plane, const char *reason)
{
	struct vb2fp_event ev;

	vb2fp_fill_common(&ev, VB2FP_EV_SKIP, vb);
	ev.plane = plane;
	strscpy(ev.reason, reason ? reason : "", sizeof(ev.reason));
	vb2fp_rust_record(data, &ev);
}

static void vb2fp_probe_signal(void *data, struct vb2_buffer *vb,
			       struct dma_fence *fence, int error)
{
	struct vb2fp_event ev;

	vb2fp_fill_common(&ev, VB2FP_EV_SIGNAL, vb);
	ev.context = fence->context;
	ev.seqno = fence->seqno;
	ev.error = error;
	vb2fp_rust_record(data, &ev);
}

/* A buffer leaves the done list for userspace (DQBUF). */
static void vb2fp_probe_dqbuf(void *data, struct vb2_queue *q,
			      struct vb2_buffer *vb)
{
	struct vb2fp_event ev;

	vb2fp_fill_common(&ev, VB2FP_EV_DQBUF, vb);
	vb2fp_rust_record(data, &ev);
}

int vb2fp_probes_register(void *data)
{
	int ret;

	ret = register_trace_vb2_fence_arm(vb2fp_probe_arm, data);
	if (ret)
		return ret;
	ret = register_trace_vb2_fence_skip(vb2fp_probe_skip, data);
	if (ret)
		goto err_arm;
	ret = register_trace_vb2_fence_signal(vb2fp_probe_signal, data);
	if (ret)
		goto err_skip;
	ret = register_trace_vb2_dqbuf(vb2fp_probe_dqbuf, data);
	if (ret)
		goto err_signal;
	return 0;

err_signal:
	unregister_trace_vb2_fence_signal(vb2fp_probe_signal, data);
err_skip:
	unregister_trace_vb2_fence_skip(vb2fp_probe_skip, data);
err_arm:
	unregister_trace_vb2_fence_arm(vb2fp_probe_arm, data);
	/* A probe may have started on another CPU before we took it back. */
	tracepoint_synchronize_unregister();
	return ret;
}

/*
 * After this returns no probe is running or will run again, so @data (the
 * Rust ring) may be freed and the module text may go away.
 */
void vb2fp_probes_unregister(void *data)
{
	unregister_trace_vb2_dqbuf(vb2fp_probe_dqbuf, data);
	unregister_trace_vb2_fence_signal(vb2fp_probe_signal, data);
	unregister_trace_vb2_fence_skip(vb2fp_probe_skip, data);
	unregister_trace_vb2_fence_arm(vb2fp_probe_arm, data);
	tracepoint_synchronize_unregister();
}

static void vb2fp_fill_fence(struct vb2fp_fence *out, struct dma_fence *fence,
			     enum dma_resv_usage usage)
{
	const char __rcu *driver;
	const char __rcu *timeline;
	int status;

	memset(out, 0, sizeof(*out));
	out->context = fence->context;
	out->seqno = fence->seqno;
	out->usage = usage;
	status = dma_fence_get_status(fence);
	out->signaled = status != 0;
	out->error = status < 0 ? status : 0;

	/*
	 * Since 6.17 a signalled fence may drop its ops, and the name strings
	 * live in driver memory that is only RCU-protected: copy them inside
	 * one read-side section, as sync_file does.
	 */
	rcu_read_lock();
	driver = dma_fence_driver_name(fence);
	timeline = dma_fence_timeline_name(fence);
	strscpy(out->driver, rcu_dereference(driver), sizeof(out->driver));
	strscpy(out->timeline, rcu_dereference(timeline),
		sizeof(out->timeline));
	rcu_read_unlock();
}

/*
 * Fill @out with up to @capacity fences of the reservation object behind
 * dma-buf @fd and store the total number in @count. @out is kernel memory:
 * user memory is never touched under the dma_resv lock (a fault there could
 * need mmap_lock, which nests outside dma_resv in GEM fault handlers).
 *
 * Returns -EBADF if @fd is not an open file, -EINVAL if it is not a dma-buf
 * (both straight from dma_buf_get()), -EINTR/-ERESTARTSYS on a signal.
 */
int vb2fp_query_resv(int fd, struct vb2fp_fence *out, u32 capacity,
		     u32 *count)
{
	struct dma_resv_iter cursor;
	struct dma_fence *fence;
	struct dma_buf *dmabuf;
	u32 n = 0;
	int ret;

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	ret = dma_resv_lock_interruptible(dmabuf->resv, NULL);
	if (ret)
		goto out_put;

	dma_resv_for_each_fence(&cursor, dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP,
				fence) {
		if (n < capacity)
			vb2fp_fill_fence(&out[n], fence,
					 dma_resv_iter_usage(&cursor));
		if (n < U32_MAX)
			n++;
	}
	dma_resv_unlock(dmabuf->resv);
	*count = n;

out_put:
	dma_buf_put(dmabuf);
	return ret;
}

unsigned long vb2fp_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void vb2fp_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

int vb2fp_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags)
{
	return spin_trylock_irqsave(lock, *flags);
}
