#!/usr/bin/env bash
# rustc-check-test.sh: `make -C rust-kmod rustc-check` (run before every
# out-of-tree build of the module) refuses a kernel tree, such as the
# headers package's, whose CONFIG_RUSTC_VERSION_TEXT is not this rustc, and
# accepts the one that is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kmod=$here/../../rust-kmod
rustc=${RUSTC:-/usr/bin/rustc}
kdir=$(mktemp -d "${TMPDIR:-/tmp}/rustc-check.XXXXXX")
trap 'rm -rf "$kdir"' EXIT
passed=0 failed=0

echo 'CONFIG_RUSTC_VERSION_TEXT="rustc 0.0.1 (not this one)"' >"$kdir/.config"
if out=$(make -s -C "$kmod" rustc-check KDIR="$kdir" RUSTC="$rustc" 2>&1); then
	echo "FAIL other rustc accepted"; failed=$((failed + 1))
elif [[ $out != *"was built with rustc 0.0.1 (not this one), but $rustc is"* ]]; then
	echo "FAIL other rustc refused without naming both: $out"; failed=$((failed + 1))
else
	echo "ok   other rustc refused"; passed=$((passed + 1))
fi
echo "CONFIG_RUSTC_VERSION_TEXT=\"$("$rustc" --version)\"" >"$kdir/.config"
if out=$(make -s -C "$kmod" rustc-check KDIR="$kdir" RUSTC="$rustc" 2>&1); then
	echo "ok   same rustc accepted"; passed=$((passed + 1))
else
	echo "FAIL same rustc refused: $out"; failed=$((failed + 1))
fi
echo "rustc-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
