#!/bin/sh
# test-media.sh STEP: one step of the regression sequence that
# linux-media's maintainer entry profile names for the virtual drivers,
# v4l-utils' contrib/test/test-media (read at v4l-utils 95ad25f6; written
# here, not copied). vm/stages.list runs the steps in test-media's order,
# one stage each, so that each has its own verdict; its v4l2-compliance
# runs are stages of their own, with nothing else in them, and README.md's
# test-media table maps test-media's lines to the stages and says where
# the rig differs. Module parameters, formats, sleeps and v4l2-compliance
# arguments are test-media's (no CONFIG_DEBUG_KOBJECT_RELEASE in the
# guest: its short sleeps).
set -eu
step=$1
tmp=/tmp/test-media
vicodec_streams=$tmp/vicodec

# note WHAT: a line in the kernel log too, as test-media writes, so that a
# kernel report can be placed in the sequence.
note() {
	echo "test-media: $*" | tee /dev/kmsg
}

# char_links: the /dev/char/MAJOR:MINOR links of the media and V4L2 nodes,
# which udev makes and v4l2-ctl -z resolves media bus info through (the
# guest has no udev). Shell builtins but for ln: a process costs tens of
# milliseconds under TCG, and there are hundreds of character devices.
char_links() {
	mkdir -p /dev/char
	for dev in /sys/dev/char/*; do
		while IFS='=' read -r key value; do
			[ "$key" = DEVNAME ] || continue
			case $value in
			media* | video* | vbi* | radio* | swradio* | v4l-*)
				ln -sfn "../$value" "/dev/char/${dev##*/}"
				;;
			esac
		done <"$dev/uevent"
	done
}

# load MODULE [PARAMETERS]: test-media's run_modprobe -r: the module
# removed if loaded, loaded with the parameters given, time to settle.
load() {
	if [ -d "/sys/module/$1" ]; then unload "$1"; fi
	note "modprobe $*"
	modprobe "$@"
	sleep 3
	char_links
}

unload() {
	note "rmmod $1"
	rmmod "$1"
	sleep 1
}

# kmemleak_scan DRIVER: the kmemleak stage's scans and report (kmemleak.sh,
# installed beside this script), which the judge reads.
kmemleak_scan() {
	echo "kmemleak results for $1:"
	"$(dirname "$0")/kmemleak.sh"
	echo "end of kmemleak results"
}

# bind_op bind|unbind DRIVER DEVICE: the platform driver's sysfs file.
bind_op() {
	printf '%s' "$3" >"/sys/bus/platform/drivers/$2/$1"
}

# rebind DRIVER DEVICE: unbind, wait test-media's unbind time, bind again.
rebind() {
	note "unbind $1"
	bind_op unbind "$1" "$2"
	sleep 1
	note "rebind $1"
	bind_op bind "$1" "$2"
	sleep 1
	char_links
}

# unbind_with_open_nodes DRIVER DEVICE MEDIA-BUS-INFO: every node of the
# device held open for 1-8 s by a sleeping reader while the device is
# unbound, then the module removed once they have all closed.
unbind_with_open_nodes() {
	note "unbind $1 with open file handles"
	holders=""
	for node in $(v4l2-ctl -z "$3" --list-devices); do
		t=$((1 + $(od -An -N1 -tu1 /dev/urandom) % 8))
		echo "$node: sleep ${t}s"
		# shellcheck disable=SC2217 # the redirection holds the node open
		sleep "$t" <"$node" &
		holders="$holders $!"
	done
	if [ -z "$holders" ]; then
		echo "FAIL: v4l2-ctl listed no node of $3 to hold open"
		exit 1
	fi
	sleep 1
	bind_op unbind "$1" "$2"
	sleep 9
	for pid in $holders; do
		if kill -0 "$pid" 2>/dev/null; then
			echo "FAIL: a reader of an unbound $1 node is still running 9 s after the unbind"
			# shellcheck disable=SC2086 # a list of process ids
			kill $holders 2>/dev/null || true
			exit 1
		fi
		wait "$pid" || true
	done
	unload "$1"
}

# vivid_formats: test-media's formats for vivid-002, the DMABUF exporter of
# every compliance run that follows.
vivid_formats() {
	v4l2-ctl -z platform:vivid-002 -d vivid-002-vid-cap -i3 -v width=3840,height=2160,pixelformat=NV24
	v4l2-ctl -z platform:vivid-002 -d vivid-002-vid-out -o1 -x width=3840,height=2160,pixelformat=NM16
}

vivid_load() {
	load vivid n_devs=3 multiplanar=1,2,2 cache_hints=1,0,0
}

# encode NAME COUNT [V4L2-CTL ARGS]: vicodec's encoder output, with and
# without the size header, as test-media makes them.
encode() {
	name=$1
	count=$2
	shift 2
	for to in --stream-to-hdr=$vicodec_streams/comp.hdr.$name.$count \
		--stream-to=$vicodec_streams/comp.$name.$count; do
		v4l2-ctl -z platform:vicodec -d stateful-encoder-source --stream-mmap \
			--stream-out-mmap --stream-out-hor-speed=1 "$@" \
			--stream-count="$count" "$to"
	done
}

# repeat N FILE: FILE N times over, on stdout.
repeat() {
	i=0
	while [ "$i" -lt "$1" ]; do
		cat "$2"
		i=$((i + 1))
	done
}

# decode_compare NAME STREAM [STATELESS ARGS]: decode STREAM with the
# stateful and the stateless decoder; the frames must be identical.
decode_compare() {
	what=$1
	stream=$vicodec_streams/$2
	shift 2
	note "vicodec: stateful and stateless decode of $stream"
	if ! v4l2-ctl -z platform:vicodec -d stateful-decoder-source --stream-mmap \
		--stream-out-mmap --stream-from-hdr="$stream" --stream-to="$stream.raw"; then
		echo "FAIL vicodec/$what: the stateful decode failed (v4l2-ctl's error is above)"
	elif ! v4l2-ctl -z platform:vicodec -d stateless-decoder-source --stream-mmap \
		--stream-out-mmap "$@" --stream-from-hdr="$stream" --stream-to="$stream.raw.stateless"; then
		echo "FAIL vicodec/$what: the stateless decode failed (v4l2-ctl's error is above)"
	elif ! cmp "$stream.raw" "$stream.raw.stateless"; then
		echo "FAIL vicodec/$what: the stateless decoder's frames differ from the stateful one's"
	else
		echo "PASS vicodec/$what"
		passed=$((passed + 1))
		return
	fi
	failed=$((failed + 1))
}

case $step in
vivid-setup)
	# test-media's set-up: HDMI inputs wired to outputs (an EDID on the
	# output side) and 4K formats on the three instances.
	vivid_load
	v4l2-ctl -z platform:vivid-000 -d vivid-000-vid-cap -c hdmi_000_0_is_connected_to=2
	v4l2-ctl -z platform:vivid-000 -d vivid-000-vid-cap -i3 -v width=3840,height=2160,pixelformat=NV24
	v4l2-ctl -z platform:vivid-000 -d vivid-000-vid-out -o1 -x width=3840,height=2160,pixelformat=NV24
	v4l2-ctl -z platform:vivid-001 -d vivid-001-vid-cap -c hdmi_001_0_is_connected_to=3
	v4l2-ctl -z platform:vivid-001 -d vivid-001-vid-cap -i3 -v width=3840,height=2160,pixelformat=NM16
	v4l2-ctl -z platform:vivid-001 -d vivid-001-vid-out -o1 -x width=3840,height=2160,pixelformat=NM16
	vivid_formats
	;;
vivid-unbind)
	rebind vivid vivid.0
	# Unbind while a VIDIOC_DQBUF blocks: every buffer dropped, so none
	# completes.
	note "unbind vivid during a blocking VIDIOC_DQBUF"
	v4l2-ctl -z platform:vivid-000 -d vivid-000-vid-cap -c percentage_of_dropped_buffers=100
	v4l2-ctl -z platform:vivid-000 -d vivid-000-vid-cap --stream-mmap &
	streamer=$!
	sleep 1
	bind_op unbind vivid vivid.0
	# test-media waits its unbind time (1 s) and does not look; the rig
	# gives the streamer 5 s to see the unbind and leave VIDIOC_DQBUF.
	waited=0
	while kill -0 "$streamer" 2>/dev/null && [ "$waited" -lt 5 ]; do
		sleep 1
		waited=$((waited + 1))
	done
	if kill -0 "$streamer" 2>/dev/null; then
		echo "FAIL: v4l2-ctl is still blocked in VIDIOC_DQBUF 5 s after vivid was unbound"
		kill "$streamer"
		exit 1
	fi
	wait "$streamer" || true
	note "rebind vivid"
	bind_op bind vivid vivid.0
	sleep 1
	char_links
	unbind_with_open_nodes vivid vivid.0 platform:vivid-000
	kmemleak_scan vivid
	vivid_load
	vivid_formats
	;;
vim2m-load)
	load vim2m
	v4l2-ctl -z platform:vim2m
	;;
vim2m-mplane-load)
	load vim2m multiplanar=2
	v4l2-ctl -z platform:vim2m
	;;
vim2m-unbind)
	rebind vim2m vim2m.0
	unbind_with_open_nodes vim2m vim2m.0 platform:vim2m
	kmemleak_scan vim2m
	;;
vicodec-streams)
	rm -rf "$vicodec_streams"
	mkdir -p "$vicodec_streams"
	load vicodec
	note "vicodec: create test files in $vicodec_streams"
	for count in 24 1 2; do
		encode yu12.1280 "$count"
	done
	for count in 24 1 2; do
		encode yu12.1920 "$count" -x width=1920,height=1080 \
			--set-selection-output target=crop,height=1080
	done
	cd "$vicodec_streams"
	for hdr in hdr. ""; do
		cat "comp.${hdr}yu12.1280.1" "comp.${hdr}yu12.1920.1" >"comp.${hdr}yu12.mix.2"
		repeat 12 "comp.${hdr}yu12.mix.2" >"comp.${hdr}yu12.mix.2.12"
		cat "comp.${hdr}yu12.1280.2" "comp.${hdr}yu12.1920.2" >"comp.${hdr}yu12.mix.4"
		repeat 6 "comp.${hdr}yu12.mix.4" >"comp.${hdr}yu12.mix.4.6"
	done
	ls -l "$vicodec_streams"
	;;
vicodec-decode)
	passed=0
	failed=0
	decode_compare stateless-decode comp.hdr.yu12.1280.24
	# v4l2-ctl does not reallocate buffers that are too small for a new
	# format: the stateless run starts at the larger one (test-media's note).
	decode_compare resolution-change-every-frame \
		comp.hdr.yu12.mix.2.12 -v width=1920,height=1088
	decode_compare resolution-change-every-other-frame \
		comp.hdr.yu12.mix.4.6 -v width=1920,height=1088
	echo "$passed passed, $failed failed, 0 skipped"
	[ "$failed" = 0 ]
	;;
vicodec-unbind)
	rm -rf "$vicodec_streams"
	rebind vicodec vicodec.0
	unbind_with_open_nodes vicodec vicodec.0 platform:vicodec
	kmemleak_scan vicodec
	;;
visl-load)
	load visl
	v4l2-ctl -z platform:visl
	;;
visl-unbind)
	rebind visl visl.0
	unbind_with_open_nodes visl visl.0 platform:visl
	kmemleak_scan visl
	load visl
	v4l2-ctl -z platform:visl --all >/dev/null
	unload visl
	;;
vivid-unload)
	note "unbind vivid"
	bind_op unbind vivid vivid.0
	sleep 1
	unload vivid
	kmemleak_scan vivid
	;;
*)
	echo "test-media.sh: no step named '$step' (see the case list in this script)" >&2
	exit 2
	;;
esac
