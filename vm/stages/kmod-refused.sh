#!/bin/sh
# On the control kernel: the Rust module must refuse to load, and say why
# (the series' tracepoints are missing), rather than load and record nothing.
if insmod /lib/fresnel/vb2_fence_probe.ko 2>/dev/null; then
	rmmod vb2_fence_probe
	echo "FAIL kmod/refused_without_series: vb2_fence_probe loaded on a kernel without the series"
	exit 1
fi
if dmesg | grep -q 'Unknown symbol __tracepoint_vb2_fence_arm'; then
	echo "PASS kmod/refused_without_series"
else
	echo "FAIL kmod/refused_without_series: insmod failed without naming the missing vb2_fence_arm tracepoint"
	exit 1
fi
