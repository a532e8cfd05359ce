#!/bin/sh
# v4l2-compliance -s -e: stream the device named $1 with DMABUF buffers
# exported by vivid (dma-contig, allocators=1). vivid's buffers must be large
# enough for any format the device under test picks: 3840x2160 NV24.
# shellcheck source-path=SCRIPTDIR source=video-node.sh
. "$(dirname "$0")/video-node.sh"
dut=$(node "$1") || { echo "SKIP: no video node named $1*"; exit 0; }
exporter=$(node vivid) || { echo "SKIP: no vivid node to export DMABUFs"; exit 0; }
v4l2-ctl -d "$exporter" --set-fmt-video=width=3840,height=2160,pixelformat=NV24 || exit 1
v4l2-compliance -d "$dut" -s -e "$exporter"
