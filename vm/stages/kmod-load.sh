#!/bin/sh
set -e
insmod /lib/fresnel/vb2_fence_probe.ko
ls -l /dev/vb2_fence_probe
