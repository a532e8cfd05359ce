#!/usr/bin/env bash
# build-sh-test.sh KERNEL_SRC: build.sh as a user on another machine would
# run it, with `uname` and `cargo` stubbed (no suite is compiled):
#  - on an aarch64 machine with KERNEL_SRC, the uapi headers installed are
#    arm64's (asm/sve_context.h) and go to UAPI_OUT only;
#  - without KERNEL_SRC, the system's /usr/include is used;
#  - LIBCLANG_PATH is left to the caller (clang-sys finds libclang).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:?usage: build-sh-test.sh KERNEL_SRC}
work=$(mktemp -d "${TMPDIR:-/tmp}/build-sh-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
cat >"$work/bin/uname" <<'STUB'
#!/bin/sh
if [ "$1" = -m ]; then echo aarch64; else exec /bin/uname "$@"; fi
STUB
cat >"$work/bin/cargo" <<'STUB'
#!/bin/sh
echo "cargo $* V4L2R=$V4L2R_VIDEODEV2_H_PATH LIBCLANG=${LIBCLANG_PATH:-unset}" >>"$CARGO_LOG"
STUB
export CARGO_LOG=$work/cargo.log
chmod +x "$work/bin/uname" "$work/bin/cargo"
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

env -u LIBCLANG_PATH -u V4L2R_VIDEODEV2_H_PATH PATH="$work/bin:$PATH" \
	KERNEL_SRC="$src" UAPI_OUT="$work/uapi" "$here/build.sh" --quiet >"$work/out1" 2>&1 || cat "$work/out1"
check "aarch64: arm64 uapi headers from KERNEL_SRC" test -f "$work/uapi/usr/include/asm/sve_context.h"
check "aarch64: bindgen reads them" grep -q "V4L2R=$work/uapi/usr/include LIBCLANG=unset" "$work/cargo.log"
: >"$work/cargo.log"
env -u LIBCLANG_PATH -u V4L2R_VIDEODEV2_H_PATH -u KERNEL_SRC PATH="$work/bin:$PATH" \
	"$here/build.sh" --quiet >"$work/out2" 2>&1 || cat "$work/out2"
check "no KERNEL_SRC: the system's headers" grep -q "V4L2R=/usr/include LIBCLANG=unset" "$work/cargo.log"
echo "build.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
