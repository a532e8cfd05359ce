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
# Reused while neither the base nor an included patch file changes.
key=$( (git -C "$src" rev-parse ci-base && manifest_series_sums) | sha256sum | cut -c1-24)
if recalled_commit "$src" "series/$key"; then exit 0; fi
wt=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-apply.XXXXXX")
cleanup() { git -C "$src" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"; }
trap cleanup EXIT
git -C "$src" worktree add -q --detach "$wt" ci-base
"$here/tools.sh" apply --tree "$wt" --manifest "$REPO_ROOT/manifest.toml" >&2
remember_commit "$src" "series/$key" "$(git -C "$wt" rev-parse HEAD)"
