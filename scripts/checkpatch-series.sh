#!/usr/bin/env bash
# checkpatch-series.sh: scripts/checkpatch.pl (from the CI base tree) on
# every included patch of the series, all of them, then fail if any was not
# clean. The flags, the media profile's --strict --max-line-length=80 and
# the two types it ignores (and why), are the RFC export's:
# tools/src/rfc.rs, CHECKPATCH_FLAGS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

src=$(kernel_dir)/src
mapfile -t flags < <("$here/tools.sh" rfc checkpatch-flags)
[ "${#flags[@]}" -gt 0 ] || die "fresnel-tools rfc checkpatch-flags printed no flags"
bad=0
while read -r patch; do
	if ! out=$("$src/scripts/checkpatch.pl" "${flags[@]}" --no-tree --quiet "$REPO_ROOT/patches/$patch"); then
		printf '%s\n%s\n' "checkpatch ${flags[*]}: $patch" "$out"
		bad=$((bad + 1))
	fi
done < <(manifest_included_patches)
[ "$bad" -eq 0 ] || die "$bad patch(es) not checkpatch clean with ${flags[*]}"
ok "series is checkpatch clean with ${flags[*]}"
