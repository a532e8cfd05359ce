#!/bin/sh
# v4l2-compliance -s on every video node whose name starts with $1 (the
# node names: vim2m, visl, stateful-encoder (vicodec), vivid-000-vid-cap and
# vivid-001-vid-cap (multi-planar)).
# vicodec's decoders are left out: they need a stream made by the encoder first.
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
