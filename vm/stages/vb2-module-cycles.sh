#!/bin/sh
# videobuf2 as modules, loaded and unloaded with fenced jobs in between
# (kmemleak, the next stage, scans for what the cycles leaked). Each cycle:
# load vim2m (which pulls in videobuf2-common, -v4l2, -memops, -vmalloc and
# v4l2-mem2mem), run one job that passes on both kernels (on the patched one
# it arms and signals fences on both buffers), unload vim2m, then
# v4l2-mem2mem and every videobuf2 module, users first. A module that cannot
# be unloaded is still referenced: a fence, dma-buf or buffer outlived its
# queue.
set -eu
cycles=${1:-3}
vb2_modules="v4l2_mem2mem videobuf2_dma_contig videobuf2_dma_sg videobuf2_vmalloc
videobuf2_memops videobuf2_v4l2 videobuf2_common"
i=1
while [ "$i" -le "$cycles" ]; do
	echo "== cycle $i of $cycles"
	modprobe vim2m
	fence-suite --exact vim2m/readback_rgb24
	rmmod vim2m
	for m in $vb2_modules; do
		if grep -q "^$m " /proc/modules; then rmmod "$m"; fi
	done
	if grep -E '^(videobuf2|v4l2_mem2mem)' /proc/modules; then
		echo "FAIL: videobuf2 modules still loaded after cycle $i (listed above)"
		exit 1
	fi
	i=$((i + 1))
done
echo "videobuf2 loaded and unloaded $cycles times"
