#!/bin/sh
# kmod-check.sh [SELFTEST]: guest-side check of vb2_fence_probe (busybox sh).
# Expects the module loaded. Runs the device self-test, then checks that the
# module cannot be removed while /dev/vb2_fence_probe is open (fops.owner)
# and can be once it is closed, and loads it again so later stages see it.
# Ends with "<P> passed, <F> failed, <S> skipped" over all the lines above,
# the self-test's included; exits 1 when any failed.
set -eu
st=${1:-/usr/bin/vb2fp-selftest}
ko=${KO:-/lib/fresnel/vb2_fence_probe.ko}
passed=0 failed=0 skipped=0

# report LINE: print LINE and count it if it is a test result.
report() {
	echo "$1"
	case $1 in
	"PASS "*) passed=$((passed + 1)) ;;
	"FAIL "*) failed=$((failed + 1)) ;;
	"SKIP "*) skipped=$((skipped + 1)) ;;
	esac
}

st_rc=0
st_out=$("$st" 2>&1) || st_rc=$?
while IFS= read -r line; do report "$line"; done <<EOT
$st_out
EOT
# The self-test exits 1 after printing its FAIL lines; anything else (a
# crash, a signal) may have left no line to count.
[ "$st_rc" -le 1 ] || report "FAIL vb2fp_selftest_exit: vb2fp-selftest exited with status $st_rc"

exec 3</dev/vb2_fence_probe
if rmmod vb2_fence_probe 2>/dev/null; then
	report "FAIL rmmod_busy_while_open: rmmod succeeded with the device open"
else
	report "PASS rmmod_busy_while_open"
fi
exec 3<&-

if rmmod vb2_fence_probe; then
	report "PASS rmmod_after_close"
	if insmod "$ko"; then
		report "PASS insmod_again"
	else
		report "FAIL insmod_again: the module did not load again after rmmod"
	fi
else
	report "FAIL rmmod_after_close: rmmod failed with the device closed"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
