#!/usr/bin/env bash
# host-checks.sh: the checks that need no guest (Rust crates, shell, series,
# manifest and package, the RFC export), each recorded as a host check in
# $FRESNEL_HOST_CHECKS. vm-test.sh runs it at nice 10 beside the VM runs
# (the guests leave the cores mostly idle), once the kernel builds are done,
# and joins it before the canary build: meanwhile nothing moves the shared
# kernel tree's checkout, whose files build-sh-test.sh installs headers
# from and whose scripts the series checks run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

: "${FRESNEL_HOST_CHECKS:?set by scripts/test-all.sh: the file the host checks are recorded in}"
host_check shellcheck shellcheck -x "$REPO_ROOT"/scripts/*.sh "$REPO_ROOT"/vm/init "$REPO_ROOT"/vm/stages/*.sh
host_check rig-crate "$here/check-crate.sh" "$REPO_ROOT/rig"
host_check landing-model-crate "$here/check-crate.sh" "$REPO_ROOT/landing-model"
host_check tools-and-package "$here/check-tools.sh"
host_check userspace-tests-host "$here/check-suite.sh"
host_check rust-kmod-rustfmt rustfmt --check --edition 2021 "$REPO_ROOT"/rust-kmod/*.rs
host_check series-checkpatch "$here/checkpatch-series.sh"
host_check series-kerneldoc "$here/kerneldoc-series.sh"
host_check series-docs "$here/docs-series.sh"
rfc_out=$(mktemp -d)
trap 'rm -rf "$rfc_out"' EXIT
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
