#!/usr/bin/env bash
# build-arm64-lane.sh: build everything the arm64 package's VM run boots:
# the packages (package-arm64.sh: makepkg's aarch64 cross build, contents
# check, rust-kmod against the packaged headers), the aarch64 suite and the
# guest's initramfs ($FRESNEL_CACHE/runs/package-arm64.cpio.gz).
# vm-test.sh runs it at nice 19 alongside the x86_64 VM runs, which leave
# most of the two cores idle (the guests wait on the drivers' timers). It
# does not read the shared kernel tree, which the canary build moves: the
# suite's aarch64 uapi headers must already be installed
# (build-suite.sh aarch64 --uapi-only, from the patched tree).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[ -f "$(suite_uapi_out aarch64)/usr/include/linux/videodev2.h" ] ||
	die "no aarch64 uapi headers in $(suite_uapi_out aarch64): run scripts/build-suite.sh aarch64 --uapi-only first"
runs=$FRESNEL_CACHE/runs
mkdir -p "$runs"
timed "package arm64 (makepkg)" "$here/package-arm64.sh"
timed "build userspace suite aarch64" "$here/build-suite.sh" aarch64
timed "initramfs package-arm64" "$here/build-initramfs.sh" package-arm64 "$runs/package-arm64.cpio.gz"
ok "the arm64 package lane is built: $runs/package-arm64.cpio.gz"
