#!/usr/bin/env bash
# build-kernel.sh KIND: build the VM kernel of an x86_64 guest of
# vm/guests.list from the CI base (control), the CI base plus the series
# (patched, production) or the series plus the deliberately wrong vm/canary/
# (canary, apply-canary.sh) and collect bzImage and modules in
# $kdir/artifacts/KIND. One source tree serves them all: it is moved between
# the commits with `git checkout`, which rewrites only the files that differ,
# so make (and ccache) rebuild only what the series touches. The control
# artifacts are cached by their inputs. The debug kinds share one build tree:
# their configs differ only in the series' own options, so moving between
# them reconfigures it (seconds) and rebuilds only the objects those options
# select; the production kernel has a tree of its own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

kind=${1:?usage: build-kernel.sh KIND (an x86_64 guest of vm/guests.list)}
built_from=$(guest_get "$kind" kernel) || die "unknown guest '$kind' (vm/guests.list names them)"
[ "$(guest_get "$kind" arch)" = x86_64 ] ||
	die "$kind's kernel is not the rig's x86_64 VM kernel (vm/guests.list): build-kernel.sh builds the x86_64 guests' kernels"
kdir=$(kernel_dir)
src=$kdir/src
# One build tree per configuration: switching between the debug and the
# production kernel would otherwise rebuild every object.
config=$(guest_get "$kind" config)
obj=$kdir/out
[ "$config" = debug ] || obj=$kdir/out-$config
art=$kdir/artifacts/$kind
[ -d "$src/.git" ] || die "no kernel source at $src: run scripts/fetch-kernel-source.sh"
mapfile -t fragments < <(vm_config_fragments "$src" "$kind")

case "$built_from" in
ci-base) target=$(git -C "$src" rev-parse ci-base) ;;
series) target=$("$here/apply-series.sh" "$src") ;;
series+canary) target=$("$here/apply-canary.sh" "$src") ;;
*) die "$kind: vm/guests.list's kernel '$built_from' is not built here" ;;
esac
key="$(git -C "$src" rev-parse "$target^{tree}")-$(kernel_config_key "${fragments[@]}")"
# A kernel with the series always goes through make (a no-op rebuild takes
# seconds and catches edits and touches in the tree); the CI base's is
# reused.
if [ "$built_from" = ci-base ] && [ "$(cat "$art/.key" 2>/dev/null)" = "$key" ]; then
	ok "$kind kernel is up to date ($art)"
	exit 0
fi

if [ "$(git -C "$src" rev-parse "HEAD^{tree}")" != "$(git -C "$src" rev-parse "$target^{tree}")" ]; then
	if ! git -C "$src" diff --quiet HEAD; then
		[ -n "${FRESNEL_KEEP_TREE:-}" ] ||
			die "$src has uncommitted edits ($(git -C "$src" diff --stat HEAD | tail -1)); commit them, export the series, or rerun with FRESNEL_KEEP_TREE=1 to build the tree as it is"
	else
		step "checking out the $kind tree ($(git -C "$src" log -1 --format=%s "$target"))"
		git -C "$src" checkout -q --detach "$target"
	fi
fi

mkdir -p "$CCACHE_DIR"
configure_kernel "$src" "$obj" x86_64 "${fragments[@]}"

log=$kdir/build-$kind.log
step "building the $kind kernel (cold: ~20 min on 2 cores; incremental: seconds); log: $log"
start=$SECONDS
rc=0
with_progress "$log" timeout 5400 "${KMAKE[@]}" -C "$src" O="$obj" -j"$(nproc)" bzImage modules || rc=$?
if [ "$rc" -ne 0 ]; then
	grep -E 'error|Error' "$log" | head -n 20 >&2 || true
	die "building the $kind kernel failed (exit $rc); full log: $log"
fi

step "collecting the $kind kernel into $art"
rm -rf "$art.tmp"
mkdir -p "$art.tmp/modules"
cp "$obj/arch/x86/boot/bzImage" "$obj/System.map" "$obj/.config" "$art.tmp/"
"${KMAKE[@]}" -C "$src" O="$obj" INSTALL_MOD_PATH="$art.tmp/modules" INSTALL_MOD_STRIP=1 \
	modules_install >/dev/null
echo "$key" >"$art.tmp/.key"
rm -rf "$art"
mv "$art.tmp" "$art"
ok "$kind kernel built in $((SECONDS - start)) s: $art/bzImage"
