#!/usr/bin/env bash
# export-rfc.sh OUTDIR [VERSION] [TESTED-FILE]: write the upstream
# postings of the series into OUTDIR/fixes (sent first, with Fixes: and
# Cc: stable) and OUTDIR/rfc ([RFC PATCH vN]), each with its cover letter
# (rfc/fixes-cover-letter.txt, rfc/cover-letter.txt), To/Cc from
# get_maintainer.pl, checkpatch --strict --max-line-length=80 clean, and checked to `git am`
# onto the base into the tree of the strict apply. Package-only patches
# are left out. The person who sends them is their author and signs them
# off: git config user.name/user.email, or FRESNEL_RFC_AUTHOR
# ("Name <email>"); a placeholder or reserved-domain address is refused.
# FRESNEL_RFC_ASSISTED_BY ("AGENT:MODEL [TOOLS]") adds an Assisted-by:
# trailer; FRESNEL_RFC_NO_ASSISTANT=true states that none applies; one of
# the two is required.
# The series is applied onto tag ci-base in a throw-away worktree of the
# CI kernel tree; all of that logic is in `fresnel-tools rfc export`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

out=${1:?usage: export-rfc.sh OUTDIR [VERSION] [TESTED-FILE (an on-target report.json or a summary)]}
version=${2:-2}
args=(rfc export --manifest "$REPO_ROOT/manifest.toml" --out "$out" --reroll "$version")
if [ -n "${3:-}" ]; then
	args+=(--tested "$3")
fi
"$here/tools.sh" "${args[@]}"
