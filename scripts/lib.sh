# shellcheck shell=bash
# Small helpers shared by the rig scripts. Sourced, never executed.
# Output convention: "==> " progress, "ok: " success, "error: " failure (stderr).

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything big lives outside the repo so a clean clone stays small and the
# caches survive across clones (CI runs on a fresh clone of the same machine).
FRESNEL_CACHE=${FRESNEL_CACHE:-/var/cache/fresnel}
export REPO_ROOT FRESNEL_CACHE

step() { printf '==> [%(%H:%M:%S)T] %s\n' -1 "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# with_timeout SECONDS WHAT CMD...: run CMD, fail naming WHAT if it overruns.
with_timeout() {
	local secs=$1 what=$2 rc=0
	shift 2
	timeout --kill-after=30 "$secs" "$@" || rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		die "stage '$what' timed out after ${secs}s"
	elif [ "$rc" -ne 0 ]; then
		die "stage '$what' failed (exit $rc)"
	fi
}

# manifest_get TABLE KEY: print a scalar from manifest.toml.
manifest_get() {
	python3 - "$REPO_ROOT/manifest.toml" "$1" "$2" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    doc = tomllib.load(f)
try:
    print(doc[sys.argv[2]][sys.argv[3]])
except KeyError:
    sys.exit(f"error: manifest.toml has no [{sys.argv[2]}] {sys.argv[3]}")
PY
}
