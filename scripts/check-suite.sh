#!/usr/bin/env bash
# check-suite.sh: the userspace suite on the host: fmt, clippy -D warnings and
# `cargo test` (the host has no V4L2 devices: device tests report SKIP with
# their reason; parser unit tests run for real).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

"$REPO_ROOT/userspace-tests/build.sh" --quiet >/dev/null
V4L2R_VIDEODEV2_H_PATH=$FRESNEL_CACHE/uapi-headers/$(ci_base_version)/usr/include
export V4L2R_VIDEODEV2_H_PATH
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
cd "$REPO_ROOT/userspace-tests"
cargo fmt --check
with_timeout 1200 "suite clippy" cargo clippy --quiet --all-targets -- -D warnings
with_timeout 1200 "suite cargo test" cargo test
