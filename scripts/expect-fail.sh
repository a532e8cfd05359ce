#!/usr/bin/env bash
# expect-fail.sh TEXT CMD...: passes only if CMD fails and its output
# contains TEXT (a check that something is refused, and why).
set -euo pipefail
text=$1
shift
rc=0
out=$("$@" 2>&1) || rc=$?
printf '%s\n' "$out"
[ "$rc" -ne 0 ] || {
	echo "error: expected a failure, but the command succeeded" >&2
	exit 1
}
grep -qF -- "$text" <<<"$out" || {
	echo "error: failed (exit $rc) without saying: $text" >&2
	exit 1
}
echo "ok: refused as expected (exit $rc)"
