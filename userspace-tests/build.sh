#!/usr/bin/env bash
# Build the userspace suite. v4l2r runs bindgen on videodev2.h and needs uapi
# headers >= 6.5; Debian 12 ships 6.1, so install them from a kernel tree
# (make headers_install into our own O= dir; the tree itself is untouched).
#
# Usage: build.sh [cargo args...]   e.g. build.sh --release
# Env:   KERNEL_SRC     kernel tree (default: the rig's ci_base tree)
#        UAPI_OUT       where headers go (default: $FRESNEL_CACHE/uapi-headers/<ver>)
#        STATIC=1       link the binaries statically (for the VM initramfs)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${FRESNEL_CACHE:-/var/cache/fresnel}
ver=$(python3 -c 'import sys,tomllib; print(tomllib.load(open(sys.argv[1],"rb"))["ci_base"]["version"])' "$here/../manifest.toml")
src=${KERNEL_SRC:-$cache/kernel/$ver/src}
out=${UAPI_OUT:-$cache/uapi-headers/$ver}

if [ ! -f "$out/usr/include/linux/videodev2.h" ]; then
	[ -f "$src/Makefile" ] || { echo "error: no kernel tree at $src (set KERNEL_SRC)" >&2; exit 1; }
	echo "==> installing uapi headers from $src into $out"
	timeout 900 nice -n 10 make -s -C "$src" O="$out/build" ARCH=x86_64 \
		headers_install INSTALL_HDR_PATH="$out/usr"
fi

# v4l2r's build.rs passes -I$V4L2R_VIDEODEV2_H_PATH and includes
# <linux/videodev2.h>, so this is the include root, not include/linux.
export V4L2R_VIDEODEV2_H_PATH="$out/usr/include"
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}

cd "$here"
if [ "${STATIC:-0}" = 1 ]; then
	# --target keeps crt-static off the build scripts (bindgen needs
	# libclang.so at build time).
	target=$(rustc -vV | sed -n 's/^host: //p')
	RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
		exec cargo build --target "$target" --bins "$@"
fi
exec cargo build --bins "$@"
