#!/bin/sh
# v4l2-compliance -s on every video node whose name starts with $1. The
# rig runs it on vivid as load-drivers.sh loads it: instance 0 allocates
# with dma-contig, which test-media's vivid instances (all vmalloc) do not
# cover. The host compares the result with the control kernel's.
prefix=$1
found=0
rc=0
for d in /sys/class/video4linux/video*; do
	case "$(cat "$d/name")" in "$prefix"*) ;; *) continue ;; esac
	found=1
	v4l2-compliance -d "/dev/$(basename "$d")" -s || rc=$?
done
[ "$found" = 1 ] || { echo "SKIP: no video node named $prefix*"; exit 0; }
exit "$rc"
