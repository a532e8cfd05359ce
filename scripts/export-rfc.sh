#!/usr/bin/env bash
# export-rfc.sh OUTDIR [VERSION] [TESTED-SUMMARY-FILE]: write the upstream
# [RFC PATCH vN] posting of the included series (cover letter from
# rfc/cover-letter.txt, To/Cc from get_maintainer.pl, base-commit) into
# OUTDIR, and fail unless checkpatch.pl --strict is clean. The series is
# applied onto tag ci-base in a throw-away worktree of the CI kernel tree;
# all of that logic is in `fresnel-tools rfc export`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

out=${1:?usage: export-rfc.sh OUTDIR [VERSION] [TESTED-SUMMARY-FILE]}
version=${2:-2}
args=(rfc export --manifest "$REPO_ROOT/manifest.toml" --out "$out" --reroll "$version")
if [ -n "${3:-}" ]; then
	args+=(--tested "$3")
fi
"$here/tools.sh" "${args[@]}"
