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
wt=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-apply.XXXXXX")
cleanup() { git -C "$src" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"; }
trap cleanup EXIT
git -C "$src" worktree add -q --detach "$wt" ci-base
"$here/tools.sh" apply --tree "$wt" --manifest "$REPO_ROOT/manifest.toml" >&2
git -C "$wt" rev-parse HEAD
