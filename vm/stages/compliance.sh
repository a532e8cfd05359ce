#!/bin/sh
# v4l2-compliance -s on every video node whose name starts with $1. The
# rig runs it on vivid's instance 0 as load-drivers.sh loads it: it
# allocates with dma-contig, which test-media's vivid instances (all
# vmalloc) do not cover. Instance 1 (vmalloc, multi-planar) is left to
# test-media-vivid-noncontig, whose vivid-001 is the same kind of device
# (a run that added nothing; it took a small part of the stage's 4 to 5
# minutes under TCG: most of them are instance 0's).
# The host compares the result with the control kernel's.
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
