#!/usr/bin/env bash
# build-each-patch-lane.sh: the per-patch builds of both architectures
# (build-each-patch.sh), recorded as host checks in $FRESNEL_HOST_CHECKS.
# vm-test.sh runs it at nice 19 alongside the VM runs, as it does the arm64
# package lane: both are CPU-bound and the guests leave the cores mostly
# idle. It reads the shared kernel tree's commits only, never its checkout,
# which the canary build moves.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

: "${FRESNEL_HOST_CHECKS:?set by scripts/test-all.sh: the file the host checks are recorded in}"
for arch in x86_64 arm64; do
	host_check "series-builds-per-patch-$arch" "$here/build-each-patch.sh" "$arch"
done
