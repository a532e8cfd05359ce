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
#        UAPI_ONLY=1  install the uapi headers (KERNEL_SRC) and stop
#        TARGET=<rust triple>   cross-build for that target, e.g.
#                   aarch64-unknown-linux-gnu (CARGO_BUILD_TARGET is read
#                   too). The uapi headers are then installed for the
#                   target's kernel ARCH (arm64), not this machine's, and the
#                   default UAPI_OUT is target/uapi-headers-<ARCH>/. The
#                   rustc must have the target's std: rustup's does after
#                   `rustup target add`; Debian's /usr/bin/rustc (rustc-web)
#                   does with libstd-rust-web-dev:<debian-arch> installed,
#                   so use RUSTC=/usr/bin/rustc (cargo runs it for the build
#                   scripts too, which is fine: it has the host's std). The
#                   linker defaults to <arch>-linux-gnu-gcc (Debian:
#                   gcc-aarch64-linux-gnu, and libc6-dev-arm64-cross for
#                   STATIC=1 and for bindgen's <sys/time.h>); set
#                   CARGO_TARGET_<TRIPLE>_LINKER to override it. bindgen
#                   gets clang's --target from cargo's TARGET; extra clang
#                   args go in BINDGEN_EXTRA_CLANG_ARGS_<triple>.
#   e.g. TARGET=aarch64-unknown-linux-gnu RUSTC=/usr/bin/rustc STATIC=1 \
#        KERNEL_SRC=... ./build.sh --release
#        -> target/aarch64-unknown-linux-gnu/release/fence-suite
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
target=${TARGET:-${CARGO_BUILD_TARGET:-}}

# Kernel ARCH= of the target triple's machine, or of this machine.
kernel_arch() {
	local machine
	if [ -n "$target" ]; then machine=${target%%-*}; else machine=$(uname -m); fi
	case $machine in
	x86_64 | i?86) echo x86 ;;
	aarch64 | arm64) echo arm64 ;;
	arm*) echo arm ;;
	riscv*) echo riscv ;;
	ppc64* | ppc) echo powerpc ;;
	*) echo "$machine" ;;
	esac
}

if [ -n "${V4L2R_VIDEODEV2_H_PATH:-}" ]; then
	include=$V4L2R_VIDEODEV2_H_PATH
elif [ -n "${KERNEL_SRC:-}" ]; then
	arch=$(kernel_arch)
	if [ -n "$target" ]; then
		out=${UAPI_OUT:-$here/target/uapi-headers-$arch}
	else
		out=${UAPI_OUT:-$here/target/uapi-headers}
	fi
	include=$out/usr/include
	# $out/arch names the ARCH the headers were installed for (absent in
	# trees installed before it was written).
	if [ -f "$out/arch" ] && [ "$(cat "$out/arch")" != "$arch" ]; then
		echo "error: the uapi headers in $out are for $(cat "$out/arch"), not $arch: use another UAPI_OUT" >&2
		exit 1
	fi
	if [ ! -f "$include/linux/videodev2.h" ]; then
		[ -f "$KERNEL_SRC/Makefile" ] || { echo "error: no kernel tree at KERNEL_SRC=$KERNEL_SRC" >&2; exit 1; }
		echo "==> installing uapi headers ($arch) from $KERNEL_SRC into $out"
		timeout 900 nice -n 10 make -s -C "$KERNEL_SRC" O="$out/build" ARCH="$arch" \
			headers_install INSTALL_HDR_PATH="$out/usr"
		echo "$arch" >"$out/arch"
	fi
else
	include=/usr/include
fi
if [ "${UAPI_ONLY:-0}" = 1 ]; then
	[ -n "${KERNEL_SRC:-}" ] || { echo "error: UAPI_ONLY=1 needs KERNEL_SRC" >&2; exit 1; }
	exit 0
fi
[ -f "$include/linux/videodev2.h" ] || {
	echo "error: no linux/videodev2.h under $include: install the system's kernel headers (Arch: linux-api-headers) or set KERNEL_SRC to a kernel source tree" >&2
	exit 1
}
# v4l2r's build.rs passes -I$V4L2R_VIDEODEV2_H_PATH and includes
# <linux/videodev2.h>, so this is the include root, not include/linux.
export V4L2R_VIDEODEV2_H_PATH=$include

cd "$here"
if [ -n "$target" ]; then
	host=$(${RUSTC:-rustc} -vV | sed -n 's/^host: //p')
	if [ "$target" != "$host" ]; then
		# Name the missing std instead of rustc's "can't find crate for core".
		libdir=$(${RUSTC:-rustc} --print target-libdir --target "$target")
		compgen -G "$libdir/libstd-*.rlib" >/dev/null || {
			echo "error: ${RUSTC:-rustc} has no std for $target (no $libdir/libstd-*.rlib): set RUSTC to one that has (Debian: RUSTC=/usr/bin/rustc with libstd-rust-web-dev:<arch>) or run rustup target add $target" >&2
			exit 1
		}
		linker_var=CARGO_TARGET_$(echo "$target" | tr '[:lower:]-' '[:upper:]_')_LINKER
		case $target in *-linux-gnu)
			[ -n "${!linker_var:-}" ] || export "$linker_var=${target%%-*}-linux-gnu-gcc" ;;
		esac
	fi
fi
if [ "${STATIC:-0}" = 1 ]; then
	# --target keeps crt-static off the build scripts (bindgen needs
	# libclang.so at build time).
	target=${target:-$(${RUSTC:-rustc} -vV | sed -n 's/^host: //p')}
	RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
		exec cargo build --target "$target" --bins "$@"
fi
exec cargo build ${target:+--target "$target"} --bins "$@"
