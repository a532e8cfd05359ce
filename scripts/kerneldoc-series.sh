#!/usr/bin/env bash
# kerneldoc-series.sh: the media maintainer entry profile's kernel-doc check.
# Runs the tree's scripts/kernel-doc -Wall -none on every C source and
# header the series touches, as the CI base has them and as the series head
# has them, and fails on any warning the series adds. Warnings are compared
# without their line numbers, which the series shifts; the base's own
# warnings (many "No description found for return value") are counted,
# not judged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

src=$(kernel_dir)/src
[ -d "$src/.git" ] || die "no kernel source at $src: run scripts/fetch-kernel-source.sh"
base=$(git -C "$src" rev-parse ci-base)
head=$("$here/apply-series.sh" "$src")
work=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-kerneldoc.XXXXXX")
trap 'rm -rf "$work"' EXIT
mapfile -t files < <(git -C "$src" diff --name-only "$base" "$head" -- '*.c' '*.h')
[ "${#files[@]}" -gt 0 ] || die "the series ($head) touches no C source or header"

# warnings REV: kernel-doc's warnings on the touched files as REV has them
# (a file REV lacks is left out), sorted, line numbers dropped.
warnings() {
	local rev=$1 dir=$work/$1 f
	mkdir -p "$dir"
	for f in "${files[@]}"; do
		git -C "$src" cat-file -e "$rev:$f" 2>/dev/null || continue
		mkdir -p "$dir/$(dirname "$f")"
		git -C "$src" show "$rev:$f" >"$dir/$f"
	done
	(cd "$dir" && find . -type f -printf '%P\n' | sort |
		xargs "$src/scripts/kernel-doc" -Wall -none 2>&1) |
		sed -E 's/^(Warning: [^ :]+):[0-9]+ /\1 /' | sort
}

warnings "$base" >"$work/base.txt"
warnings "$head" >"$work/head.txt"
added_warnings "kernel-doc -Wall (${#files[@]} touched files)" "$work/base.txt" "$work/head.txt"
