#!/usr/bin/env bash
# build-each-patch.sh x86_64|arm64: build drivers/media and drivers/dma-buf
# with W=1 at every commit of the series, in order, so that each patch builds
# on its own: x86_64 with the VM config (lockdep on), arm64 as a clang cross
# build with config/build-check-arm64.config (the package's Rockchip drivers
# and the virtual test drivers; lockdep off). Fails naming the first patch
# whose tree does not build, or whose files get a compiler warning.
# sparse (C=2, sid's: scripts/sparse-wrapper.sh) checks every C file the
# series touches at the base and at the series head; fails if the series
# adds a sparse warning (compared without line numbers).
# The worktree and the build trees ($kdir/each-src-ARCH, out-each-ARCH) sit
# at fixed paths in the state directory, so that ccache serves what an
# earlier run compiled.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

arch=${1:?usage: build-each-patch.sh x86_64|arm64}
kdir=$(kernel_dir)
src=$kdir/src
[ -d "$src/.git" ] || die "no kernel source at $src: run scripts/fetch-kernel-source.sh"
case "$arch" in x86_64 | arm64) ;; *) die "unknown architecture '$arch' (x86_64 or arm64)" ;; esac
series=$("$here/apply-series.sh" "$src")
base=$(git -C "$src" rev-parse ci-base)
obj=$kdir/out-each-$arch
# A fixed path under the state directory, like the build trees: ccache
# (CCACHE_BASEDIR) then hits for the objects the previous run compiled.
wt=$kdir/each-src-$arch
cleanup() { git -C "$src" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"; }
cleanup
git -C "$src" worktree prune
trap cleanup EXIT
git -C "$src" worktree add -q --detach "$wt" "$base"
# The series' own options do not exist at the base, where the tree is
# configured: the control kernel's fragments, read from the worktree (the
# shared checkout moves under a canary build running alongside).
case "$arch" in
x86_64) mapfile -t fragments < <(vm_config_fragments "$wt" control) ;;
arm64) fragments=("$REPO_ROOT/config/build-check-arm64.config") ;;
esac
configure_kernel "$wt" "$obj" "$arch" "${fragments[@]}"
sparse=$("$here/sparse-wrapper.sh")
mapfile -t touched_c < <(git -C "$src" diff --name-only "$base" "$series" -- '*.c')

# sparse_pass NAME: compile and sparse-check (C=2, W=1) every C file the
# series touches, as the worktree has it now; $obj/sparse-NAME.txt gets
# sparse's warnings (clang's end in "[-W...]") with path and line dropped.
sparse_pass() {
	local name=$1 log=$obj/sparse-$1.log objs=() f rc=0
	for f in "${touched_c[@]}"; do
		[ ! -f "$wt/$f" ] || objs+=("${f%.c}.o")
	done
	step "$arch: sparse on the ${#objs[@]} touched C file(s) at the $name"
	timeout 1800 "${KMAKE[@]}" ARCH="$(kernel_make_arch "$arch")" -C "$wt" O="$obj" W=1 C=2 \
		CHECK="$sparse" "${objs[@]}" >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		grep -E 'error|Error' "$log" | head -n 20 >&2 || true
		die "$arch: the sparse pass at the $name failed (exit $rc); log: $log"
	fi
	{ grep -E ': (warning|error): ' "$log" || [ $? -eq 1 ]; } | { grep -v ']$' || [ $? -eq 1 ]; } |
		sed -E "s#^$wt/##; s#^([^:]+):[0-9]+:[0-9]+:#\1:#" | sort >"$obj/sparse-$name.txt"
}
sparse_pass base

n=0
total=$(git -C "$src" rev-list --count "$base..$series")
for c in $(git -C "$src" rev-list --reverse "$base..$series"); do
	n=$((n + 1))
	subject=$(git -C "$src" log -1 --format=%s "$c")
	git -C "$wt" checkout -q --detach "$c"
	log=$obj/patch-$n.log
	step "$arch $n/$total: $subject"
	start=$SECONDS
	rc=0
	timeout 3600 "${KMAKE[@]}" ARCH="$(kernel_make_arch "$arch")" -C "$wt" O="$obj" W=1 -j"$(nproc)" \
		drivers/media/ drivers/dma-buf/ >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		grep -E 'error|Error' "$log" | head -n 20 >&2 || true
		die "$arch: the tree does not build at patch $n/$total ($subject), exit $rc; log: $log"
	fi
	# Warnings in the files this patch touches (a file rebuilt here only
	# because a header changed is checked at the patch that changed it).
	touched=$(git -C "$wt" diff-tree --no-commit-id --name-only -r "$c" | grep -E '\.[ch]$' |
		awk '{ print $0 ":" }' || true)
	if [ -n "$touched" ] && grep -F -f <(printf '%s\n' "$touched") "$log" | grep -E ': warning:' >&2; then
		die "$arch: patch $n/$total ($subject) adds compiler warnings (W=1); log: $log"
	fi
	ok "$arch $n/$total built in $((SECONDS - start)) s"
done
sparse_pass series
added_warnings "$arch sparse (logs: $obj/sparse-*.log)" "$obj/sparse-base.txt" "$obj/sparse-series.txt"
ok "$arch: each of the $total patches builds on its own (W=1, drivers/media drivers/dma-buf)"
