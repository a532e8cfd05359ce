#!/usr/bin/env bash
# apply-series.sh SRC: apply the included series (manifest order, strictly)
# onto tag ci-base of the git tree SRC in a throw-away worktree, and print the
# resulting commit. SRC's own checkout is not touched, so a failed apply
# leaves nothing half-done; the caller checks the commit out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

src=${1:?usage: apply-series.sh SRC}
# Applying means checking out 80k files into a worktree: remember the result
# per (base, included patch files) and reuse it while neither changes.
key=$( (git -C "$src" rev-parse ci-base && manifest_series_sums) | sha256sum | cut -c1-24)
memo=$(kernel_dir)/series-commits/$key
if [ -f "$memo" ] && git -C "$src" cat-file -e "$(cat "$memo")^{commit}" 2>/dev/null; then
	cat "$memo"
	exit 0
fi
wt=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-apply.XXXXXX")
cleanup() { git -C "$src" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"; }
trap cleanup EXIT
git -C "$src" worktree add -q --detach "$wt" ci-base
"$here/tools.sh" apply --tree "$wt" --manifest "$REPO_ROOT/manifest.toml" >&2
mkdir -p "$(dirname "$memo")"
# A ref keeps the commit from being garbage-collected once the worktree is gone.
git -C "$src" update-ref "refs/fresnel/series/$key" "$(git -C "$wt" rev-parse HEAD)"
git -C "$wt" rev-parse HEAD | tee "$memo"
