#!/usr/bin/env bash
# vm-test.sh [--patched-only]: build the control and the patched VM kernels,
# the Rust module and the suite, boot each kernel under QEMU, and judge the
# results (fresnel-rig judge). Once the control guest is done, beside the
# patched one (the longer of the two): the canary, the series plus
# vm/canary/ (a fence-contract breach put back on purpose), booted with its
# stages of vm/stages.list, where the judge requires lockdep to report it;
# then the arm64 package: makepkg cross-builds it (scripts/package-arm64.sh),
# its kernel boots under qemu-system-aarch64 with the aarch64 suite and its
# stages of vm/stages.list, judged as its own section (arm64-package/...).
# The arm64 lane's builds (scripts/build-arm64-lane.sh) run at nice 19
# alongside the x86_64 VM runs, which run at once: the guests mostly wait
# on the drivers' timers and leave the cores idle (README.md, "On the
# PineBook Pro", has the figures), and the lane is CPU-bound (17 minutes
# cold). Its log is shown when it is joined.
# Under scripts/test-all.sh ($FRESNEL_HOST_CHECKS set) the host checks
# (host-checks.sh, at nice 10, joined before the canary build) and the
# per-patch builds (build-each-patch-lane.sh) run the same way beside the
# guests, recorded as host checks.
# --patched-only is the edit loop: the patched kernel alone, suite stages
# only (no compliance and no test-media, which need the control; no
# canary; no per-patch builds).
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
	# Compliance compares the two kernels: drop the stages whose verdict says
	# so, and test-media's sequence, whose other steps need its compliance
	# steps.
	"$here/rig.sh" stages --without-control "$REPO_ROOT/vm/stages.list" >"$quick_stages"
	export FRESNEL_STAGES=$quick_stages
fi
export FRESNEL_TIMINGS=${FRESNEL_TIMINGS:-$(mktemp)}
runs=$FRESNEL_CACHE/runs
mkdir -p "$runs"

timed "kernel source" "$here/fetch-kernel-source.sh"
# join_lane PID LOG TAG: show a lane's log until the lane ends; its exit
# status.
join_lane() {
	tail -n +1 -f --pid="$1" "$2" | sed "s/^/    [$3] /"
	wait "$1"
}
lane_pid=""
each_pid=""
checks_pid=""
vm_pids=()
# stop_background: the lanes and guests still running, each its own
# session, so that a failure here stops all of them (by session: GNU
# timeout puts what it runs in a process group of its own).
stop_background() {
	local pid
	for pid in "$lane_pid" "$each_pid" "$checks_pid" "${vm_pids[@]}"; do
		[ -z "$pid" ] || pkill -TERM -s "$pid" 2>/dev/null || true
	done
	# The cargo builds' sccache server (lib.sh) goes with the run.
	if [ -n "${RUSTC_WRAPPER:-}" ]; then
		"$RUSTC_WRAPPER" --stop-server </dev/null >/dev/null 2>&1 || true
	fi
}
trap stop_background EXIT
timed "guest userspace (sid debs)" "$here/fetch-sid-debs.sh" vm_userspace >/dev/null
for kind in "${kinds[@]}"; do
	timed "build $kind kernel" "$here/build-kernel.sh" "$kind"
done
# The KVM probe (up to 40 s, idle) beside the module and suite builds;
# joined before the guests boot.
"$here/probe-kvm.sh" "$(kernel_dir)/artifacts/${kinds[0]}/bzImage" >/dev/null &
probe_pid=$!
timed "build rust-kmod" "$here/build-kmod.sh"
timed "build userspace suite" "$here/build-suite.sh"
uapi_aarch64=""
if [ -n "$canary" ]; then
	# The arm64 lane must not read the shared tree, which the canary build
	# moves: the aarch64 suite's uapi headers come from it now, at the
	# series, before the lanes below start (17 to 84 s alone, 173 s beside them).
	if timed "uapi headers aarch64" "$here/build-suite.sh" aarch64 --uapi-only; then uapi_aarch64=1; fi
fi
if [ -n "$canary" ] && [ -n "${FRESNEL_HOST_CHECKS:-}" ]; then
	# From here to the canary build nothing moves the shared tree's
	# checkout, whose scripts the checks run: the lane is joined before it.
	# Above the lanes that run for the whole VM phase (nice 19): the checks
	# are short, and their verdict lines are the ones an author reads first.
	checks_log=$runs/host-checks.log
	step "running the host checks alongside the VM runs (nice 10); log: $checks_log"
	setsid nice -n 10 "$here/host-checks.sh" >"$checks_log" 2>&1 &
	checks_pid=$!
fi
if [ -n "$canary" ] && [ -n "${FRESNEL_HOST_CHECKS:-}" ]; then
	each_log=$runs/per-patch-builds.log
	step "building each patch alongside the VM runs (nice 19); log: $each_log"
	setsid nice -n 19 "$here/build-each-patch-lane.sh" >"$each_log" 2>&1 &
	each_pid=$!
fi
if [ -n "$uapi_aarch64" ]; then
	lane_log=$runs/arm64-lane-build.log
	step "building the arm64 package lane alongside the VM runs (nice 19); log: $lane_log"
	setsid nice -n 19 "$here/build-arm64-lane.sh" >"$lane_log" 2>&1 &
	lane_pid=$!
fi
judge_args=()
for kind in "${kinds[@]}"; do
	timed "initramfs $kind" "$here/build-initramfs.sh" "$kind" "$runs/$kind.cpio.gz"
	judge_args+=(--run "$kind=$runs/$kind")
done
wait "$probe_pid" || die "the KVM probe failed (scripts/probe-kvm.sh; its error is above)"
# The control and the patched guest run at once (see above; a guest keeps
# one core busy only while v4l2-compliance streams vivid at 4K: 0.95 of a
# core, measured). Each line of a guest's progress names its kernel.
for kind in "${kinds[@]}"; do
	setsid "$here/run-vm.sh" "$kind" "$runs/$kind.cpio.gz" "$runs/$kind" \
		> >(sed -u "s/^/[$kind] /") 2>&1 &
	vm_pids+=("$!")
done
# wait_guest I: wait for guest I (of kinds) and record its time.
wait_guest() {
	local kind=${kinds[$1]} rc=0
	wait "${vm_pids[$1]}" || rc=$?
	# The judge fails a guest that left no results; this says why.
	[ "$rc" -eq 0 ] || echo "scripts/run-vm.sh $kind failed (exit $rc): its output is above" >&2
	printf '%-28s %5s s\n' "VM run $kind" "$(cat "$runs/$kind/seconds" 2>/dev/null || echo '?')" >>"$FRESNEL_TIMINGS"
}
# The first guest (the control kernel's; the patched one's alone with
# --patched-only) ends minutes before the patched one: the canary and the
# arm64 guest run in its place, beside the patched guest, so that at most
# two guests run at once and neither waits for the other's end (the
# patched guest is the longest step of a warm run). Until the patched guest
# is waited for, a failure is recorded, not the end of the run, which would
# kill that guest.
wait_guest 0
unset 'vm_pids[0]'
if [ -n "$checks_pid" ]; then
	step "joining the host checks (their log so far, then as it goes)"
	if ! timed "host checks: waited for" join_lane "$checks_pid" "$checks_log" host-checks; then
		echo "FAIL host/checks: scripts/host-checks.sh stopped before recording all its checks (its log is above)" >>"$FRESNEL_HOST_CHECKS"
	fi
	checks_pid=""
fi
if [ -n "$canary" ]; then
	# It moves the shared build tree off the patched commit (after the host
	# checks, which run its scripts), which the next build of either kernel
	# moves back (ccache keeps that cheap); the patched guest boots from
	# its own copy (artifacts/patched).
	# At nice 10, below the patched guest, whose stage limits are wall time.
	# The judge fails the canary if it left no results.
	if timed "build canary kernel" nice -n 10 "$here/build-kernel.sh" canary &&
		timed "initramfs canary" nice -n 10 env FRESNEL_STAGES="$REPO_ROOT/vm/stages.list" \
			"$here/build-initramfs.sh" canary "$runs/canary.cpio.gz"; then
		timed "VM run canary" "$here/run-vm.sh" canary "$runs/canary.cpio.gz" "$runs/canary" 2>&1 |
			sed -u "s/^/[canary] /" || echo "scripts/run-vm.sh canary failed: its output is above" >&2
	else
		echo "the canary guest could not be built: its error is above" >&2
	fi
	judge_args+=(--run "canary=$runs/canary")

	# A lane that cannot build or boot is a failed check, not the end of the
	# run: the x86_64 verdict still comes out.
	lane_built=""
	if [ -n "$lane_pid" ]; then
		step "joining the arm64 package lane's builds (its log so far, then as it goes)"
		if timed "arm64 lane: waited for" join_lane "$lane_pid" "$lane_log" arm64; then lane_built=1; fi
		lane_pid=""
	fi
	if [ -n "$lane_built" ] &&
		timed "VM run package-arm64" "$here/run-vm.sh" package-arm64 "$runs/package-arm64.cpio.gz" \
			"$runs/package-arm64" 2>&1 | sed -u "s/^/[package-arm64] /"; then
		judge_args+=(--run "package-arm64=$runs/package-arm64")
	else
		lane_fail="FAIL arm64-package/build-and-boot: a step of the arm64 package lane failed (its error is above)"
		echo "$lane_fail" >&2
		if [ -n "${FRESNEL_HOST_CHECKS:-}" ]; then echo "$lane_fail" >>"$FRESNEL_HOST_CHECKS"; else lane_failed=1; fi
	fi
fi
for ((i = 1; i < ${#kinds[@]}; i++)); do
	wait_guest "$i"
done
vm_pids=()
[ -z "${lane_failed:-}" ] || exit 1

if [ -n "$each_pid" ]; then
	step "joining the per-patch builds (their log so far, then as it goes)"
	if ! timed "per-patch builds: waited for" join_lane "$each_pid" "$each_log" each-patch; then
		echo "FAIL host/series-builds-per-patch: scripts/build-each-patch-lane.sh stopped before recording its checks (its log is above)" >>"$FRESNEL_HOST_CHECKS"
	fi
	each_pid=""
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
	--control-reports "$REPO_ROOT/vm/control-reports.list" --must-run "$REPO_ROOT/vm/must-run.list" \
	--stages "${FRESNEL_STAGES:-$REPO_ROOT/vm/stages.list}"
