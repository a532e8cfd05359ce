#!/bin/sh
# kmod-check.sh [SELFTEST]: guest-side check of vb2_fence_probe (busybox sh).
# Expects the module loaded. Runs the device self-test, then checks that the
# module cannot be removed while /dev/vb2_fence_probe is open (fops.owner)
# and can be once it is closed, and loads it again so later stages see it.
set -eu
st=${1:-/usr/bin/vb2fp-selftest}
ko=${KO:-/lib/fresnel/vb2_fence_probe.ko}
rc=0

"$st" || rc=1

exec 3</dev/vb2_fence_probe
if rmmod vb2_fence_probe 2>/dev/null; then
	echo "FAIL rmmod_busy_while_open: rmmod succeeded with the device open"
	rc=1
else
	echo "PASS rmmod_busy_while_open"
fi
exec 3<&-

if rmmod vb2_fence_probe; then
	echo "PASS rmmod_after_close"
	insmod "$ko"
else
	echo "FAIL rmmod_after_close"
	rc=1
fi
exit "$rc"
