#!/usr/bin/env bash
# Build the userspace suite (fence-suite, landing-map) as a normal user, on
# the device or on the rig. v4l2r runs bindgen on <linux/videodev2.h> and
# needs uapi headers >= 6.5. They come from, first match:
#   V4L2R_VIDEODEV2_H_PATH   an include root that has linux/videodev2.h;
#   KERNEL_SRC               a kernel source tree: `make headers_install` for
#                            this machine's architecture (uname -m) into
#                            UAPI_OUT (default target/uapi-headers/, under
#                            this checkout); the tree is not written to;
#   /usr/include             the system's headers (Arch: linux-api-headers).
# The installed headers package (/usr/lib/modules/$(uname -r)/build) is no
# KERNEL_SRC: it is a configured tree, which kbuild refuses to build O= from,
# and without O= headers_install writes into it (root-owned).
# libclang is found the way clang-sys finds it (llvm-config, the usual
# library directories), or from LIBCLANG_PATH if set.
#
# Usage: build.sh [cargo args...]   e.g. build.sh --release
# Env:   STATIC=1   link the binaries statically (for the VM initramfs)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Kernel ARCH= of this machine.
kernel_arch() {
	case $(uname -m) in
	x86_64 | i?86) echo x86 ;;
	aarch64 | arm64) echo arm64 ;;
	arm*) echo arm ;;
	riscv*) echo riscv ;;
	ppc64* | ppc) echo powerpc ;;
	*) uname -m ;;
	esac
}

if [ -n "${V4L2R_VIDEODEV2_H_PATH:-}" ]; then
	include=$V4L2R_VIDEODEV2_H_PATH
elif [ -n "${KERNEL_SRC:-}" ]; then
	out=${UAPI_OUT:-$here/target/uapi-headers}
	include=$out/usr/include
	if [ ! -f "$include/linux/videodev2.h" ]; then
		[ -f "$KERNEL_SRC/Makefile" ] || { echo "error: no kernel tree at KERNEL_SRC=$KERNEL_SRC" >&2; exit 1; }
		echo "==> installing uapi headers ($(kernel_arch)) from $KERNEL_SRC into $out"
		timeout 900 nice -n 10 make -s -C "$KERNEL_SRC" O="$out/build" ARCH="$(kernel_arch)" \
			headers_install INSTALL_HDR_PATH="$out/usr"
	fi
else
	include=/usr/include
fi
[ -f "$include/linux/videodev2.h" ] || {
	echo "error: no linux/videodev2.h under $include: install the system's kernel headers (Arch: linux-api-headers) or set KERNEL_SRC to a kernel source tree" >&2
	exit 1
}
# v4l2r's build.rs passes -I$V4L2R_VIDEODEV2_H_PATH and includes
# <linux/videodev2.h>, so this is the include root, not include/linux.
export V4L2R_VIDEODEV2_H_PATH=$include

cd "$here"
if [ "${STATIC:-0}" = 1 ]; then
	# --target keeps crt-static off the build scripts (bindgen needs
	# libclang.so at build time).
	target=$(rustc -vV | sed -n 's/^host: //p')
	RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
		exec cargo build --target "$target" --bins "$@"
fi
exec cargo build --bins "$@"
