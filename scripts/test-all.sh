#!/usr/bin/env bash
# test-all.sh: the project's test command (README.md; .ci/run calls it).
# Installs what it needs, then hands over to vm-test.sh, which builds, boots
# and judges the control and the patched kernel in QEMU and, beside the
# guests, runs the host checks (host-checks.sh: Rust crates, shell, series,
# manifest and package) and the per-patch builds. Ends with one line
# "N passed, N failed, N skipped" and exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

FRESNEL_TIMINGS=$(mktemp)
export FRESNEL_TIMINGS
FRESNEL_HOST_CHECKS=$(mktemp)
export FRESNEL_HOST_CHECKS
t_all=$SECONDS

# A run that fills the disk fails an hour in, in whichever lane writes
# next; say so before anything starts. The figure is the peak a full run
# from an empty state directory added to its filesystem (README, "Disk").
need_gib=${FRESNEL_MIN_FREE_GIB:-24}
mkdir -p "$FRESNEL_CACHE"
free_mib=$(df --output=avail -BM "$FRESNEL_CACHE" | tail -n1 | tr -dc 0-9) ||
	die "df cannot tell the free space of $FRESNEL_CACHE's filesystem"
((free_mib >= need_gib * 1024)) ||
	die "$FRESNEL_CACHE's filesystem has $((free_mib / 1024)) GiB free; a full run needs ${need_gib} GiB there (state, the clone's cargo targets, TMPDIR, ccache and sccache all on one disk). Free space, or point FRESNEL_CACHE elsewhere; FRESNEL_MIN_FREE_GIB overrides the figure"

timed "install host tools" "$here/install-host-deps.sh"
# lib.sh again: RUSTC_WRAPPER is set once install-host-deps.sh put sccache
# in place. Its server (on this state directory's socket) starts here;
# vm-test.sh stops it when the run ends. A cache that does not start is
# not worth failing the run for: the builds then run without it.
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
if [ -n "${RUSTC_WRAPPER:-}" ] && ! "$RUSTC_WRAPPER" --start-server </dev/null >/dev/null 2>&1; then
	echo "warning: sccache ($RUSTC_WRAPPER) does not start its server on $SCCACHE_SERVER_UDS; building without it" >&2
	export FRESNEL_SCCACHE=0
	unset RUSTC_WRAPPER
fi
timed "kernel source" "$here/fetch-kernel-source.sh"
# The series applied once, before the lanes that each ask for it start at
# the same time (apply-series.sh remembers the commit).
timed "apply the series" "$here/apply-series.sh" "$(kernel_dir)/src" >/dev/null ||
	die "the series does not apply onto ci-base (apply-series.sh says why, above)"
# makepkg's build user, before two lanes (the package check, the arm64
# package) each ask for it.
ensure_build_user "${FRESNEL_BUILD_USER:-fresnel-build}"

# vm-test.sh ends with the verdict; its summary line must stay the last line.
FRESNEL_T0=$((t_all - SECONDS)) exec "$here/vm-test.sh"
