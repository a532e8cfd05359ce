#!/usr/bin/env bash
# check-suite.sh: the userspace suite on the host: build.sh's choices of
# headers and architecture (build-sh-test.sh), fmt, clippy -D warnings,
# `cargo test` (the unit tests; the device suite needs the VM's V4L2 test
# drivers and is ignored here) and `fence-suite --list`, which must name
# exactly the tests of cases.txt, in order.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# build.sh as a user on an aarch64 device runs it (uname and cargo stubbed).
"$REPO_ROOT/userspace-tests/build-sh-test.sh" "$(kernel_dir)/src"
KERNEL_SRC=$(kernel_dir)/src UAPI_OUT=$(suite_uapi_out x86_64) \
	"$REPO_ROOT/userspace-tests/build.sh" --quiet >/dev/null
V4L2R_VIDEODEV2_H_PATH=$(suite_uapi_out x86_64)/usr/include
export V4L2R_VIDEODEV2_H_PATH
cd "$REPO_ROOT/userspace-tests"
cargo fmt --check
with_timeout 1200 "suite clippy" cargo clippy --quiet --all-targets -- -D warnings
with_timeout 1200 "suite cargo test" cargo test
# The binary the VM runs lists the tests cases.txt names, in its order.
if ! diff <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' cases.txt | awk '{print $1}') \
	<(target/debug/fence-suite --list --format terse | sed 's/: test$//'); then
	echo "error: fence-suite --list differs from userspace-tests/cases.txt" >&2
	exit 1
fi
