#!/usr/bin/env bash
# bench-production.sh: what a fence costs on a kernel without the debug
# options. CI's guests run lockdep, kmemleak and the ww-mutex slowpath
# checks, which make every allocation and lock of the arm dearer; this
# builds the series on the production config (the guest `production` of
# vm/guests.list: config/vm-x86_64-production.config), boots it with its
# stages of vm/stages.list (fence-bench) and prints the judge's verdict with
# fence-bench's table. Not part of CI: a full build of its own (cold: about
# 20 minutes on 2 cores), run when the cost is to be measured again
# (docs/performance.md, "On a production kernel"). It checks out the
# shared kernel tree at the series: do not run it beside scripts/vm-test.sh.
# Run directory: $FRESNEL_CACHE/runs/production.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[ $# -eq 0 ] || die "usage: bench-production.sh (no arguments)"
runs=$FRESNEL_CACHE/runs
mkdir -p "$runs"
export FRESNEL_TIMINGS=${FRESNEL_TIMINGS:-$(mktemp)}
timed "kernel source" "$here/fetch-kernel-source.sh"
timed "guest userspace (sid debs)" "$here/fetch-sid-debs.sh" vm_userspace >/dev/null
timed "build production kernel" "$here/build-kernel.sh" production
timed "build userspace suite" "$here/build-suite.sh"
timed "initramfs production" "$here/build-initramfs.sh" production "$runs/production.cpio.gz"
timed "VM run production" "$here/run-vm.sh" production "$runs/production.cpio.gz" "$runs/production"
cat "$FRESNEL_TIMINGS"
echo "== verdict"
"$here/rig.sh" judge --run "production=$runs/production" \
	--cases "$REPO_ROOT/userspace-tests/cases.txt" --stages "$REPO_ROOT/vm/stages.list"
