#!/usr/bin/env bash
# checkpatch-series.sh: scripts/checkpatch.pl --strict on every included
# patch of the series (from the CI base tree), all of them, then fail if any
# was not clean. The CI base tree has none of upstream's history, so
# checkpatch cannot look up the commit ids of Fixes: tags
# (UNKNOWN_COMMIT_ID); they were confirmed in public sources. Nor can
# checkpatch tell whether MAINTAINERS covers a file a patch adds, so it
# asks every time (FILE_PATH_CHANGES); the one file the series adds,
# drivers/media/common/videobuf2/videobuf2-fence-test.c, falls under
# VIDEOBUF2 FRAMEWORK's "F: drivers/media/common/videobuf2/*".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

src=$(kernel_dir)/src
bad=0
while read -r patch; do
	if ! out=$("$src/scripts/checkpatch.pl" --strict --no-tree --quiet --ignore UNKNOWN_COMMIT_ID,FILE_PATH_CHANGES "$REPO_ROOT/patches/$patch"); then
		printf '%s\n%s\n' "checkpatch --strict: $patch" "$out"
		bad=$((bad + 1))
	fi
done < <(manifest_included_patches)
[ "$bad" -eq 0 ] || die "$bad patch(es) not checkpatch --strict clean"
ok "series is checkpatch --strict clean"
