/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Userspace ABI of /dev/vb2_fence_probe (see README.md and
 * docs/interfaces.md). The Rust side mirrors these structs; both sides
 * check the sizes at build time.
 */
#ifndef _VB2_FENCE_PROBE_UAPI_H
#define _VB2_FENCE_PROBE_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Values of vb2fp_fence.usage (enum dma_resv_usage). */
#define VB2FP_USAGE_KERNEL	0
#define VB2FP_USAGE_WRITE	1
#define VB2FP_USAGE_READ	2
#define VB2FP_USAGE_BOOKKEEP	3

struct vb2fp_fence {
	__u64 context;
	__u64 seqno;
	__u32 usage;
	__u32 signaled;
	__s32 error;
	__u32 pad;
	char driver[32];
	char timeline[32];
};

struct vb2fp_query {
	__s32 fd;		/* in: dma-buf fd */
	__u32 capacity;		/* in: room in entries[] */
	__u32 count;		/* out: fences on the reservation */
	__u32 pad;		/* in: must be 0 */
	__u64 entries;		/* in: user pointer to vb2fp_fence[capacity] */
};

#define VB2FP_IOC_RESET	_IO('V', 0xF0)
#define VB2FP_IOC_QUERY	_IOWR('V', 0xF1, struct vb2fp_query)

#endif /* _VB2_FENCE_PROBE_UAPI_H */
