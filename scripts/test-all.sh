#!/usr/bin/env bash
# test-all.sh: the project's test command (README.md; .ci/run calls it).
# Installs what it needs, runs the host checks (Rust crates, shell, series,
# manifest and package), then builds, boots and judges the control and the
# patched kernel in QEMU (vm-test.sh, which also runs the per-patch builds
# beside the guests). Ends with one line "N passed, N failed, N skipped"
# and exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

FRESNEL_TIMINGS=$(mktemp)
export FRESNEL_TIMINGS
FRESNEL_HOST_CHECKS=$(mktemp)
export FRESNEL_HOST_CHECKS
t_all=$SECONDS

timed "install host tools" "$here/install-host-deps.sh"
timed "kernel source" "$here/fetch-kernel-source.sh"
host_check shellcheck shellcheck -x "$REPO_ROOT"/scripts/*.sh "$REPO_ROOT"/vm/init "$REPO_ROOT"/vm/stages/*.sh
host_check rig-crate "$here/check-crate.sh" "$REPO_ROOT/rig"
host_check landing-model-crate "$here/check-crate.sh" "$REPO_ROOT/landing-model"
host_check tools-and-package "$here/check-tools.sh"
host_check userspace-tests-host "$here/check-suite.sh"
host_check rust-kmod-rustfmt rustfmt --check --edition 2021 "$REPO_ROOT"/rust-kmod/*.rs
host_check series-checkpatch "$here/checkpatch-series.sh"
host_check series-kerneldoc "$here/kerneldoc-series.sh"
host_check series-docs "$here/docs-series.sh"
# The per-patch builds run in vm-test.sh, alongside the VM runs
# (scripts/build-each-patch-lane.sh).
rfc_out=$(mktemp -d)
# CI has no git identity: export as an explicit test identity, with the
# disclosure this project's patches need (the output is thrown away); then
# show that a placeholder identity, and an export that does not say
# whether a coding assistant helped, are refused.
rig_author="Rig Check <rig-check@fresnel-fourier.dev>"
host_check rfc-export env -u FRESNEL_RFC_NO_ASSISTANT FRESNEL_RFC_AUTHOR="$rig_author" \
	FRESNEL_RFC_ASSISTED_BY="Claude:rig-check" "$here/export-rfc.sh" "$rfc_out/rfc" 2
host_check rfc-export-refuses-placeholder "$here/expect-fail.sh" "refusing to export as" \
	env FRESNEL_RFC_AUTHOR="Fresnel Fourier Developers <devel@fresnel-fourier.invalid>" \
	FRESNEL_RFC_ASSISTED_BY="Claude:rig-check" "$here/export-rfc.sh" "$rfc_out/placeholder" 2
host_check rfc-export-refuses-no-disclosure "$here/expect-fail.sh" \
	"say whether a coding assistant was used" \
	env -u FRESNEL_RFC_ASSISTED_BY -u FRESNEL_RFC_NO_ASSISTANT FRESNEL_RFC_AUTHOR="$rig_author" \
	"$here/export-rfc.sh" "$rfc_out/undisclosed" 2
rm -rf "$rfc_out"

# vm-test.sh ends with the verdict; its summary line must stay the last line.
FRESNEL_T0=$((t_all - SECONDS)) exec "$here/vm-test.sh"
