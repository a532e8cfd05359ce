#!/bin/sh
# Unload every opt-in driver (and load/unload the hardware ones that have no
# device here): module exit and driver unbind must leave no fence pending.
rc=0
if [ -e /dev/vb2_fence_probe ]; then rmmod vb2_fence_probe || rc=1; fi
for m in vkms vivid vicodec visl vim2m; do rmmod "$m" || rc=1; done
for m in hantro_vpu rockchip_rga rockchip_vdec; do
	modprobe "$m" && rmmod "$m" || rc=1
done
exit "$rc"
