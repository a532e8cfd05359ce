#!/bin/sh
# landing-map watch around clients nobody here wrote: v4l2-ctl streaming
# vim2m with MMAP buffers on both queues; vim2m's CAPTURE importing vivid's
# exports (--stream-dmabuf --export-device); vicodec's encoder and its
# decoder fed the encoder's stream (--stream-from-hdr); the v4l2-compliance
# streaming tests on vim2m, with MMAP and with vivid's DMABUFs (-s10 -e); and
# the vivid import once more with the sampling oracle asked for (what the
# control kernel falls back to, checked where there are fences to see).
# v4l2-ctl 1.32's --stream-out-dmabuf cannot work on an m2m device: its
# streaming_set_m2m() exports the OUTPUT buffers before stateful_m2m() has
# called REQBUFS on that queue, so none is exported and do_setup_out_buffers
# fails "q.obtain_bufs failed" (then exits 0); --stream-dmabuf, whose
# exports happen after the CAPTURE REQBUFS (capture_setup), works.
# Each watch prints a "== watch: WHAT" line and its report as one JSON line;
# the judge (verdict "watch") reads them. Exit 1 when a watch exited non-zero.
set -eu
# shellcheck source-path=SCRIPTDIR source=video-node.sh
. "$(dirname "$0")/video-node.sh"
m2m=$(node vim2m) || { echo "no video node named vim2m*" >&2; exit 1; }
vivid=$(node vivid) || { echo "no video node named vivid*" >&2; exit 1; }
enc=$(node stateful-encoder) || { echo "no video node named stateful-encoder" >&2; exit 1; }
dec=$(node stateful-decoder) || { echo "no video node named stateful-decoder" >&2; exit 1; }
rc=0
watch() {
	echo "== watch: $1"
	shift
	# Under TCG a job takes many times what it takes on hardware: 5 s bound.
	landing-map watch --json --pending-bound-ms 5000 "$@" || rc=1
}
watch "v4l2-ctl vim2m mmap" \
	-- v4l2-ctl -d "$m2m" --stream-mmap --stream-out-mmap --stream-count=12
# vivid's buffers must hold any frame vim2m's CAPTURE queue picks.
v4l2-ctl -d "$vivid" --set-fmt-video=width=3840,height=2160,pixelformat=NV24
watch "v4l2-ctl vim2m CAPTURE importing vivid's exports" \
	-- v4l2-ctl -d "$m2m" --stream-dmabuf --stream-out-mmap --export-device "$vivid" \
	--stream-count=12
stream=/tmp/watch-clients.fwht
watch "v4l2-ctl vicodec encoder" \
	-- v4l2-ctl -d "$enc" --stream-mmap --stream-out-mmap --stream-count=8 --stream-to-hdr="$stream"
watch "v4l2-ctl vicodec decoder, the encoder's stream" \
	-- timeout 120 v4l2-ctl -d "$dec" --stream-mmap --stream-out-mmap --stream-count=8 \
	--stream-from-hdr="$stream"
# v4l2-compliance gives each frame 2 s in select() (v4l2-test-buffers.cpp,
# captureBufs()); a TCG guest sharing 2 host cores with another guest can
# be starved longer than that (CI, control kernel: "fail: ...(1224): ret ==
# 0" at frame 38 of 60). So test-media's frame count, -s10, and a second run
# if the first fails: the report keeps the failed run's exit status,
# anomalies and dropped records; the verdict shows it on the control
# kernel and fails it on the patched one.
watch "v4l2-compliance -s10 vim2m" --attempts 2 \
	-- v4l2-compliance -d "$m2m" -s10
watch "v4l2-compliance -s10 -e vivid vim2m (DMABUF)" --attempts 2 \
	-- v4l2-compliance -d "$m2m" -s10 -e "$vivid"
watch "v4l2-ctl vim2m CAPTURE importing vivid's exports, sampling oracle" \
	--oracle sampling \
	-- v4l2-ctl -d "$m2m" --stream-dmabuf --stream-out-mmap --export-device "$vivid" \
	--stream-count=30
exit "$rc"
