#!/usr/bin/env bash
# build-sh-test.sh KERNEL_SRC: build.sh as a user on another machine would
# run it, with `uname` and `cargo` stubbed (no suite is compiled):
#  - on an aarch64 machine with KERNEL_SRC, the uapi headers installed are
#    arm64's (asm/sve_context.h) and go to UAPI_OUT only;
#  - without KERNEL_SRC, the system's /usr/include is used;
#  - on an x86_64 machine, TARGET=aarch64-unknown-linux-gnu takes the ARCH
#    from the target (the arm64 headers above are accepted, an x86_64 build
#    refuses them), passes --target and the cross linker to cargo, and names
#    a rustc without the target's std (rustc stubbed too);
#  - UAPI_ONLY=1 installs the headers and runs no cargo;
#  - LIBCLANG_PATH is left to the caller (clang-sys finds libclang).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:?usage: build-sh-test.sh KERNEL_SRC}
work=$(mktemp -d "${TMPDIR:-/tmp}/build-sh-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
cat >"$work/bin/uname" <<'STUB'
#!/bin/sh
if [ "$1" = -m ]; then echo "${FAKE_MACHINE:-aarch64}"; else exec /bin/uname "$@"; fi
STUB
cat >"$work/bin/cargo" <<'STUB'
#!/bin/sh
echo "cargo $* V4L2R=$V4L2R_VIDEODEV2_H_PATH LIBCLANG=${LIBCLANG_PATH:-unset} LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-unset}" >>"$CARGO_LOG"
STUB
# An x86_64 rustc whose target libdir is $STUB_LIBDIR.
cat >"$work/rustc" <<'STUB'
#!/bin/sh
case "$*" in
-vV) echo "host: x86_64-unknown-linux-gnu" ;;
*target-libdir*) echo "$STUB_LIBDIR" ;;
esac
STUB
mkdir "$work/std" "$work/nostd"
touch "$work/std/libstd-0123.rlib"
export CARGO_LOG=$work/cargo.log
chmod +x "$work/bin/uname" "$work/bin/cargo" "$work/rustc"
passed=0 failed=0
# check NAME CMD...: one verdict line.
check() {
	local name=$1
	shift
	if "$@"; then
		echo "ok   $name"; passed=$((passed + 1))
	else
		echo "FAIL $name"; failed=$((failed + 1))
	fi
}

env -u LIBCLANG_PATH -u V4L2R_VIDEODEV2_H_PATH -u TARGET -u CARGO_BUILD_TARGET PATH="$work/bin:$PATH" \
	KERNEL_SRC="$src" UAPI_OUT="$work/uapi" "$here/build.sh" --quiet >"$work/out1" 2>&1 || cat "$work/out1"
check "aarch64: arm64 uapi headers from KERNEL_SRC" test -f "$work/uapi/usr/include/asm/sve_context.h"
check "aarch64: bindgen reads them" grep -q "V4L2R=$work/uapi/usr/include LIBCLANG=unset" "$work/cargo.log"
: >"$work/cargo.log"
env -u LIBCLANG_PATH -u V4L2R_VIDEODEV2_H_PATH -u KERNEL_SRC -u TARGET -u CARGO_BUILD_TARGET PATH="$work/bin:$PATH" \
	"$here/build.sh" --quiet >"$work/out2" 2>&1 || cat "$work/out2"
check "no KERNEL_SRC: the system's headers" grep -q "V4L2R=/usr/include LIBCLANG=unset" "$work/cargo.log"
: >"$work/cargo.log"
cross() {
	env -u LIBCLANG_PATH -u V4L2R_VIDEODEV2_H_PATH -u CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER \
		PATH="$work/bin:$PATH" FAKE_MACHINE=x86_64 RUSTC="$work/rustc" \
		KERNEL_SRC="$src" UAPI_OUT="$work/uapi" "$here/build.sh" --quiet
}
STUB_LIBDIR=$work/std TARGET=aarch64-unknown-linux-gnu STATIC=1 cross >"$work/out3" 2>&1 || cat "$work/out3"
check "x86_64, TARGET=aarch64: arm64 headers, --target, cross linker" grep -q \
	"^cargo build --target aarch64-unknown-linux-gnu --bins --quiet V4L2R=$work/uapi/usr/include LIBCLANG=unset LINKER=aarch64-linux-gnu-gcc$" "$work/cargo.log"
refused() {
	! STUB_LIBDIR=$work/std cross >"$work/out4" 2>&1 && grep -q "are for arm64, not x86:" "$work/out4"
}
check "x86_64, no TARGET: the arm64 headers are refused" refused
no_std() {
	! STUB_LIBDIR=$work/nostd TARGET=aarch64-unknown-linux-gnu cross >"$work/out5" 2>&1 &&
		grep -q "has no std for aarch64-unknown-linux-gnu" "$work/out5"
}
check "TARGET without its std: named" no_std
uapi_only() {
	: >"$work/cargo.log"
	env -u LIBCLANG_PATH -u V4L2R_VIDEODEV2_H_PATH -u TARGET -u CARGO_BUILD_TARGET PATH="$work/bin:$PATH" \
		UAPI_ONLY=1 KERNEL_SRC="$src" UAPI_OUT="$work/uapi-only" "$here/build.sh" --quiet >"$work/out6" 2>&1 &&
		test -f "$work/uapi-only/usr/include/linux/videodev2.h" && ! test -s "$work/cargo.log"
}
check "UAPI_ONLY=1: the headers, no cargo" uapi_only
echo "build.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
