#!/usr/bin/env bash
# build-suite.sh: build the userspace suite (SUITE_BINS in lib.sh) for the
# guest, statically linked, and stage the binaries in $FRESNEL_CACHE/suite-bin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

step "building the userspace suite (release, static)"
STATIC=1 KERNEL_SRC=$(kernel_dir)/src UAPI_OUT=$(suite_uapi_out) \
	with_timeout 1800 "build userspace suite" "$REPO_ROOT/userspace-tests/build.sh" --release --quiet
target=$(rustc -vV | sed -n 's/^host: //p')
bin=$REPO_ROOT/userspace-tests/target/$target/release
mkdir -p "$FRESNEL_CACHE/suite-bin"
for b in "${SUITE_BINS[@]}"; do
	cp "$bin/$b" "$FRESNEL_CACHE/suite-bin/"
done
ok "suite binaries in $FRESNEL_CACHE/suite-bin"
