#!/usr/bin/env bash
# checkpatch-series.sh: scripts/checkpatch.pl --strict on every included
# patch of the series (from the CI base tree), all of them, then fail if any
# was not clean. The CI base tree has none of upstream's history, so
# checkpatch cannot look up the commit ids of Fixes: tags
# (UNKNOWN_COMMIT_ID); they were confirmed in public sources.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

src=$(kernel_dir)/src
bad=0
while read -r patch; do
	if ! out=$("$src/scripts/checkpatch.pl" --strict --no-tree --quiet --ignore UNKNOWN_COMMIT_ID "$REPO_ROOT/patches/$patch"); then
		printf '%s\n%s\n' "checkpatch --strict: $patch" "$out"
		bad=$((bad + 1))
	fi
done < <(manifest_included_patches)
[ "$bad" -eq 0 ] || die "$bad patch(es) not checkpatch --strict clean"
ok "series is checkpatch --strict clean"
