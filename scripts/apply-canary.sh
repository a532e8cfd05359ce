#!/usr/bin/env bash
# apply-canary.sh SRC: the series (apply-series.sh) plus the throw-away
# patches of vm/canary/, which put back a fence-contract breach the
# series fixed; print the resulting commit. The canary kernel built from it
# must make lockdep report the breach (scripts/vm-test.sh, judge --run canary=DIR):
# otherwise a clean lockdep log on the patched kernel proves nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

src=${1:?usage: apply-canary.sh SRC}
series=$("$here/apply-series.sh" "$src")
patches=("$REPO_ROOT"/vm/canary/*.patch)
[ -f "${patches[0]}" ] || die "no canary patch in $REPO_ROOT/vm/canary"
key=$( (echo "$series" && sha256sum "${patches[@]}") | sha256sum | cut -c1-24)
if recalled_commit "$src" "canary/$key"; then exit 0; fi
wt=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-canary.XXXXXX")
cleanup() { git -C "$src" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"; }
trap cleanup EXIT
git -C "$src" worktree add -q --detach "$wt" "$series"
git -C "$wt" -c user.name=fresnel-rig -c user.email=rig@fresnel-fourier.invalid \
	am -q --committer-date-is-author-date "${patches[@]}" >&2 ||
	die "a canary patch no longer applies on the series: rebase vm/canary/ (git -C $wt am --show-current-patch)"
remember_commit "$src" "canary/$key" "$(git -C "$wt" rev-parse HEAD)"
