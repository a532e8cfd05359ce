/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Contract between vb2fp_shim.c and vb2fp_main.rs. Every type here has a
 * #[repr(C)] twin in vb2fp_main.rs; keep both in sync (sizes are asserted on
 * both sides).
 */
#ifndef _VB2FP_SHIM_H
#define _VB2FP_SHIM_H

#include <linux/spinlock.h>
#include <linux/types.h>

#include "vb2_fence_probe_uapi.h"

#define VB2FP_EV_ARM		0
#define VB2FP_EV_SKIP		1
#define VB2FP_EV_SIGNAL		2
#define VB2FP_EV_DQBUF		3

/* Field not carried by this kind of event. */
#define VB2FP_NONE		0xffffffffU

#define VB2FP_NAME_LEN		32

/* One tracepoint hit, copied out of the vb2/dma_fence objects: no pointers. */
struct vb2fp_event {
	u64 ts_ns;
	u64 ino;
	u64 context;
	u64 seqno;
	u32 kind;
	u32 type;
	u32 index;
	u32 plane;
	u32 usage;
	s32 error;
	char queue[VB2FP_NAME_LEN];
	char reason[VB2FP_NAME_LEN];
};

/* Implemented in Rust; @data is the pointer given to vb2fp_probes_register(). */
void vb2fp_rust_record(void *data, const struct vb2fp_event *ev);

/* Implemented in C. */
int vb2fp_probes_register(void *data);
void vb2fp_probes_unregister(void *data);
int vb2fp_query_resv(int fd, struct vb2fp_fence *out, u32 capacity,
		     u32 *count);
unsigned long vb2fp_spin_lock_irqsave(spinlock_t *lock);
void vb2fp_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);
int vb2fp_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags);

#endif /* _VB2FP_SHIM_H */
