#!/usr/bin/env bash
# build-suite.sh [x86_64|aarch64] [--uapi-only]: build the userspace suite
# (SUITE_BINS in lib.sh) for the guest, statically linked, and stage the
# binaries (--uapi-only: only install the architecture's uapi headers from
# the shared kernel tree, for a later build that must not read the tree):
#   x86_64 (default)  the host's build, in $FRESNEL_CACHE/suite-bin;
#   aarch64           cross-built on this x86_64 host for an arm64 guest, in
#                     $FRESNEL_CACHE/suite-bin-aarch64, with rust-kmod's
#                     vb2fp-selftest (static, aarch64-linux-gnu-gcc) and
#                     kmod-check.sh beside them.
# aarch64 needs Debian's rustc-web with the arm64 std (/usr/bin/rustc,
# libstd-rust-web-dev:arm64; rustup's rustc has only the host's std) and
# gcc-aarch64-linux-gnu with libc6-dev-arm64-cross (static glibc, and the
# libc headers bindgen and the selftest compile against).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

arch=${1:-x86_64}
case "${2:-}" in
"") what="building the userspace suite (release, static)" ;;
--uapi-only) what="installing the suite's uapi headers" && export UAPI_ONLY=1 ;;
*) die "usage: build-suite.sh [x86_64|aarch64] [--uapi-only]" ;;
esac
case "$arch" in
x86_64)
	step "$what"
	STATIC=1 KERNEL_SRC=$(kernel_dir)/src UAPI_OUT=$(suite_uapi_out x86_64) \
		with_timeout 1800 "build userspace suite" "$REPO_ROOT/userspace-tests/build.sh" --release --quiet
	target=$(rustc -vV | sed -n 's/^host: //p')
	dest=$FRESNEL_CACHE/suite-bin
	;;
aarch64)
	target=aarch64-unknown-linux-gnu
	dest=$FRESNEL_CACHE/suite-bin-aarch64
	command -v aarch64-linux-gnu-gcc >/dev/null || die "no aarch64-linux-gnu-gcc: install gcc-aarch64-linux-gnu"
	[ -f /usr/aarch64-linux-gnu/lib/libc.a ] || die "no /usr/aarch64-linux-gnu/lib/libc.a: install libc6-dev-arm64-cross"
	step "$what for $target"
	# cargo stays rustup's; RUSTC is Debian's, the one with an arm64 std.
	TARGET=$target RUSTC=/usr/bin/rustc STATIC=1 KERNEL_SRC=$(kernel_dir)/src UAPI_OUT=$(suite_uapi_out aarch64) \
		with_timeout 2400 "build userspace suite ($arch)" "$REPO_ROOT/userspace-tests/build.sh" --release --quiet
	;;
*) die "usage: build-suite.sh [x86_64|aarch64] [--uapi-only]" ;;
esac
if [ -n "${UAPI_ONLY:-}" ]; then
	ok "uapi headers ($arch) in $(suite_uapi_out "$arch")"
	exit 0
fi
bin=$REPO_ROOT/userspace-tests/target/$target/release
mkdir -p "$dest"
for b in "${SUITE_BINS[@]}"; do
	cp "$bin/$b" "$dest/"
done
if [ "$arch" = aarch64 ]; then
	# rust-kmod's Makefile builds the selftest (its flags), in a scratch copy
	# so the repo's selftest/ keeps no aarch64 binary.
	build=$FRESNEL_CACHE/kmod-selftest-aarch64
	mkdir -p "$build"
	rsync -a --delete --exclude=vb2fp-selftest "$REPO_ROOT/rust-kmod/selftest" "$build/"
	cp "$REPO_ROOT/rust-kmod/Makefile" "$REPO_ROOT/rust-kmod/vb2_fence_probe_uapi.h" "$build/"
	step "building rust-kmod's vb2fp-selftest for aarch64 (static)"
	with_timeout 300 "build rust-kmod selftest ($arch)" \
		make -s -C "$build" USERCC=aarch64-linux-gnu-gcc selftest
	cp "$build/selftest/vb2fp-selftest" "$build/selftest/kmod-check.sh" "$dest/"
fi
ok "suite binaries ($arch) in $dest"
