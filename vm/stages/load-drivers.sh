#!/bin/sh
# Load the virtual devices the suite drives. vivid instance 0 (single
# planar, dma-contig allocator) is the second V4L2 exporter for the
# DMABUF-import paths; instance 1 (multi-planar, vmalloc, so that it can
# import system-heap dma-bufs) is the device under test for NV12M.
set -e
modprobe vim2m
modprobe visl
modprobe vicodec
# The display consumer of vim2m/vkms_scanout_waits_for_job, with its
# writeback connector (on by default; named so that the test can rely on it).
modprobe vkms enable_writeback=1
modprobe vivid n_devs=2 allocators=1,0 multiplanar=1,2 node_types=0x1,0x1 \
	num_outputs=0,0
for d in /sys/class/video4linux/video*; do
	echo "$(basename "$d") $(cat "$d/name")"
done
