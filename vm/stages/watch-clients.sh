#!/bin/sh
# landing-map watch around clients nobody here wrote: v4l2-ctl streaming
# vim2m with MMAP buffers on both queues, then vicodec's encoder and its
# decoder fed the encoder's stream (--stream-from-hdr). Not yet: vim2m
# importing vivid's exports (`--stream-out-dmabuf --export-device`: v4l2-ctl
# 1.32 fails "do_setup_out_buffers q.obtain_bufs failed" there and exits 0).
# Each watch prints
# a "== watch: WHAT" line and its report as one JSON line; the judge
# (verdict "watch") reads them. Exit 1 when a watch exited non-zero.
set -eu
node() {
	for d in /sys/class/video4linux/video*; do
		case "$(cat "$d/name")" in "$1"*) echo "/dev/$(basename "$d")" && return 0 ;; esac
	done
	return 1
}
m2m=$(node vim2m) || { echo "no video node named vim2m*" >&2; exit 1; }
enc=$(node stateful-encoder) || { echo "no video node named stateful-encoder" >&2; exit 1; }
dec=$(node stateful-decoder) || { echo "no video node named stateful-decoder" >&2; exit 1; }
rc=0
watch() {
	echo "== watch: $1"
	shift
	# Under TCG a job takes many times what it takes on hardware: 5 s bound.
	landing-map watch --json --pending-bound-ms 5000 -- "$@" || rc=1
}
watch "v4l2-ctl vim2m mmap" \
	v4l2-ctl -d "$m2m" --stream-mmap --stream-out-mmap --stream-count=12
stream=/tmp/watch-clients.fwht
watch "v4l2-ctl vicodec encoder" \
	v4l2-ctl -d "$enc" --stream-mmap --stream-out-mmap --stream-count=8 --stream-to-hdr="$stream"
watch "v4l2-ctl vicodec decoder, the encoder's stream" \
	timeout 120 v4l2-ctl -d "$dec" --stream-mmap --stream-out-mmap --stream-count=8 \
	--stream-from-hdr="$stream"
exit "$rc"
