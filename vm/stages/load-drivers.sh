#!/bin/sh
# Load the virtual devices the suite drives. vivid (dma-contig allocator)
# is the second V4L2 exporter for the DMABUF-import paths.
set -e
modprobe vim2m
modprobe visl
modprobe vicodec
modprobe vivid allocators=1 n_devs=1 node_types=0x1 num_outputs=0
for d in /sys/class/video4linux/video*; do
	echo "$(basename "$d") $(cat "$d/name")"
done
