#!/bin/sh
# On the control kernel: the Rust module must refuse to load, and say why
# (the series' tracepoints are missing), rather than load and record nothing.
# One test line and the summary line; exit 1 when it failed.
result() {
	echo "$1"
	case $1 in
	"PASS "*) echo "1 passed, 0 failed, 0 skipped" && exit 0 ;;
	*) echo "0 passed, 1 failed, 0 skipped" && exit 1 ;;
	esac
}
if insmod /lib/fresnel/vb2_fence_probe.ko 2>/dev/null; then
	rmmod vb2_fence_probe
	result "FAIL kmod/refused_without_series: vb2_fence_probe loaded on a kernel without the series"
fi
if dmesg | grep -q 'Unknown symbol __tracepoint_vb2_fence_arm'; then
	result "PASS kmod/refused_without_series"
fi
result "FAIL kmod/refused_without_series: insmod failed without naming the missing vb2_fence_arm tracepoint"
