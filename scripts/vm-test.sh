#!/usr/bin/env bash
# vm-test.sh [--patched-only]: build the control and the patched VM kernels,
# the Rust module and the suite, boot each kernel under QEMU, and judge the
# results (fresnel-rig judge). Then the canary: the series plus
# vm/canary/ (a fence-contract breach put back on purpose), booted with
# vm/canary-stages.list; the judge requires lockdep to report it. Last, the
# arm64 package: makepkg cross-builds it (scripts/package-arm64.sh), its
# kernel boots under qemu-system-aarch64 with the aarch64 suite and
# vm/package-stages.list, judged as its own section (arm64-package/...).
# The arm64 lane's builds (scripts/build-arm64-lane.sh) run at nice 19
# alongside the x86_64 VM runs: the guests mostly wait on the drivers'
# timers and leave the cores idle (22% busy on average, sampled), and the
# lane is CPU-bound (17 minutes cold). Its log is shown when it is joined.
# --patched-only is the edit loop: the patched kernel alone, suite stages
# only (no compliance, which needs the control; no canary).
# Run directories: $FRESNEL_CACHE/runs/{control,patched,canary}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

kinds=(control patched)
canary=1
if [ "${1:-}" = --patched-only ]; then
	kinds=(patched)
	canary=""
	quick_stages=$(mktemp)
	# Compliance compares the two kernels: drop the stages whose verdict says so.
	awk '/^#/ || $4 != "compliance"' "$REPO_ROOT/vm/stages.list" >"$quick_stages"
	export FRESNEL_STAGES=$quick_stages
fi
export FRESNEL_TIMINGS=${FRESNEL_TIMINGS:-$(mktemp)}
runs=$FRESNEL_CACHE/runs
mkdir -p "$runs"

timed "kernel source" "$here/fetch-kernel-source.sh"
timed "guest userspace (sid debs)" "$here/fetch-sid-debs.sh" vm_userspace >/dev/null
for kind in "${kinds[@]}"; do
	timed "build $kind kernel" "$here/build-kernel.sh" "$kind"
done
timed "build rust-kmod" "$here/build-kmod.sh"
timed "build userspace suite" "$here/build-suite.sh"
# join_lane: show the arm64 lane's log until the lane ends; its exit status.
join_lane() {
	tail -n +1 -f --pid="$lane_pid" "$lane_log" | sed 's/^/    [arm64] /'
	wait "$lane_pid"
}
lane_pid=""
if [ -n "$canary" ]; then
	# The lane must not read the shared tree, which the canary build moves:
	# the aarch64 suite's uapi headers come from it now, at the series.
	lane_log=$runs/arm64-lane-build.log
	if timed "uapi headers aarch64" "$here/build-suite.sh" aarch64 --uapi-only; then
		step "building the arm64 package lane alongside the VM runs (nice 19); log: $lane_log"
		# Its own process group, so that a failure here stops all of it.
		setsid nice -n 19 "$here/build-arm64-lane.sh" >"$lane_log" 2>&1 &
		lane_pid=$!
		trap '[ -z "$lane_pid" ] || kill -- -"$lane_pid" 2>/dev/null || true' EXIT
	fi
fi
judge_args=()
for kind in "${kinds[@]}"; do
	timed "initramfs $kind" "$here/build-initramfs.sh" "$kind" "$runs/$kind.cpio.gz"
	timed "VM run $kind" "$here/run-vm.sh" "$kind" "$runs/$kind.cpio.gz" "$runs/$kind"
	judge_args+=("--$kind" "$runs/$kind")
done
if [ -n "$canary" ]; then
	# Last: it moves the shared build tree off the patched commit, which the
	# next build of either kernel moves back (ccache keeps that cheap).
	timed "build canary kernel" "$here/build-kernel.sh" canary
	timed "initramfs canary" env FRESNEL_STAGES="$REPO_ROOT/vm/canary-stages.list" \
		"$here/build-initramfs.sh" canary "$runs/canary.cpio.gz"
	timed "VM run canary" "$here/run-vm.sh" canary "$runs/canary.cpio.gz" "$runs/canary"
	judge_args+=(--canary "$runs/canary")
fi

if [ -n "$canary" ]; then
	# A lane that cannot build or boot is a failed check, not the end of the
	# run: the x86_64 verdict still comes out.
	lane_built=""
	if [ -n "$lane_pid" ]; then
		step "joining the arm64 package lane's builds (its log so far, then as it goes)"
		if timed "arm64 lane: waited for" join_lane; then lane_built=1; fi
		lane_pid=""
	fi
	if [ -n "$lane_built" ] &&
		timed "VM run package-arm64" "$here/run-vm.sh" package-arm64 "$runs/package-arm64.cpio.gz" "$runs/package-arm64"; then
		judge_args+=(--package-arm64 "$runs/package-arm64" --package-stages "$REPO_ROOT/vm/package-stages.list")
	else
		lane_fail="FAIL arm64-package/build-and-boot: a step of the arm64 package lane failed (its error is above)"
		echo "$lane_fail" >&2
		if [ -n "${FRESNEL_HOST_CHECKS:-}" ]; then echo "$lane_fail" >>"$FRESNEL_HOST_CHECKS"; else exit 1; fi
	fi
fi

echo "== stage timings"
cat "$FRESNEL_TIMINGS"
# FRESNEL_T0: the caller's start, as an offset from this script's start.
printf '%-28s %5d s\n' total $((SECONDS - ${FRESNEL_T0:-0}))
echo "== landing maps (control | patched)"
landing_args=()
for kind in "${kinds[@]}"; do landing_args+=("--$kind" "$runs/$kind"); done
"$here/rig.sh" landing-map "${landing_args[@]}" || echo "(the landing maps could not be shown)"
echo "== verdict"
if [ -n "${FRESNEL_HOST_CHECKS:-}" ]; then judge_args+=(--host-checks "$FRESNEL_HOST_CHECKS"); fi
"$here/rig.sh" judge "${judge_args[@]}" --cases "$REPO_ROOT/userspace-tests/cases.txt" \
	--control-reports "$REPO_ROOT/vm/control-reports.list" \
	--stages "${FRESNEL_STAGES:-$REPO_ROOT/vm/stages.list}"
