#!/usr/bin/env bash
# build-kmod.sh: build rust-kmod (vb2_fence_probe.ko) against the patched VM
# kernel's build tree, in a scratch copy so the repo stays clean, and put the
# module and its guest-side selftest into the patched kernel's artifacts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

kdir=$(kernel_dir)
art=$kdir/artifacts/patched
[ -f "$art/bzImage" ] || die "no patched kernel in $art: run scripts/build-kernel.sh patched first"
build=$FRESNEL_CACHE/kmod-build
mkdir -p "$build"
rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' --exclude='.*.cmd' \
	--exclude=Module.symvers --exclude=modules.order "$REPO_ROOT/rust-kmod/" "$build/"
step "building rust-kmod against the patched kernel"
with_timeout 900 "build rust-kmod" "${KMAKE[@]}" -C "$kdir/out" M="$build" modules >"$build.log" 2>&1 ||
	{
		tail -n 30 "$build.log" >&2
		exit 1
	}
with_timeout 300 "build rust-kmod selftest" make -C "$build" selftest >>"$build.log" 2>&1 ||
	die "building the rust-kmod selftest failed; log: $build.log"
cp "$build/vb2_fence_probe.ko" "$build/selftest/vb2fp-selftest" "$build/selftest/kmod-check.sh" "$art/"
ok "rust-kmod: $art/vb2_fence_probe.ko"
