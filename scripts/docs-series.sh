#!/usr/bin/env bash
# docs-series.sh: the userspace-api pages the series touches (0018:
# Documentation/userspace-api/media) built with Sphinx, `make
# SPHINXDIRS=userspace-api/media htmldocs`, at the CI base and at the
# series head, each from scratch; fails if the build fails or the series
# adds a Sphinx warning. Warnings are compared with the tree's path and
# line numbers dropped; the base's own (undefined labels outside this
# subtree, no graphviz) are counted, not judged. About a minute per build
# alone, four beside the guests: the base's warnings are kept in
# $FRESNEL_CONTENT/sphinx-base, named by what they derive from (the base's
# tree, this script, Sphinx, the Python packages it imports and graphviz),
# and the base's build is skipped when they are there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

sphinx_dirs=userspace-api/media
kdir=$(kernel_dir)
src=$kdir/src
[ -d "$src/.git" ] || die "no kernel source at $src: run scripts/fetch-kernel-source.sh"
command -v sphinx-build >/dev/null || die "sphinx-build not found: run scripts/install-host-deps.sh (python3-sphinx)"
base=$(git -C "$src" rev-parse ci-base)
head=$("$here/apply-series.sh" "$src")
git -C "$src" diff --quiet "$base" "$head" -- "Documentation/$sphinx_dirs" &&
	die "the series touches nothing under Documentation/$sphinx_dirs: is this check still the right one?"
wt=$kdir/docs-src
obj=$kdir/out-docs
remove_worktree() { git -C "$src" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"; }
remove_worktree
git -C "$src" worktree prune
work=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-docs.XXXXXX")
trap 'remove_worktree; rm -rf "$work"' EXIT
# A sparse worktree (seconds, not the minute and a half a full checkout
# takes): what Sphinx reads, Documentation/ and the sources and headers
# its kernel-doc directives name, without the drivers and subsystems it
# does not (measured: the same warnings as a full tree).
git -C "$src" worktree add -q --no-checkout --detach "$wt" "$base"
git -C "$wt" sparse-checkout set --no-cone '/*' '!/drivers/*' '/drivers/media/' \
	'/drivers/staging/' '!/sound/' '!/fs/' '!/net/' '!/arch/*' '/arch/x86/'

# build NAME REV: htmldocs of $sphinx_dirs as REV has them, from scratch;
# $work/NAME.txt gets its warnings, path and line numbers dropped.
build() {
	local name=$1 rev=$2 log=$work/$1.log rc=0
	git -C "$wt" checkout -q --detach "$rev"
	rm -rf "$obj"
	mkdir -p "$obj"
	step "Sphinx: $sphinx_dirs at the $name"
	timeout 900 make -C "$wt" O="$obj" SPHINXDIRS="$sphinx_dirs" htmldocs >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 30 "$log" >&2
		die "make htmldocs failed at the $name (exit $rc); log above"
	fi
	# Sphinx's own warnings are `file:N: WARNING`, the kernel-doc ones it
	# relays `file:N text`: both lose N. grep finding nothing is fine.
	{ grep -E 'WARNING|ERROR' "$log" || [ $? -eq 1 ]; } |
		sed -E "s#$wt/##g; s#:[0-9]+([:; ]|\$)#\1#g" | sort >"$work/$name.txt"
}

key=$({
	git -C "$src" rev-parse "$base^{tree}"
	sha256sum <"${BASH_SOURCE[0]}"
	sphinx-build --version
	# What Sphinx imports (Sphinx, docutils, its extensions and themes), and
	# graphviz, whose absence is one of the base's warnings.
	sphinx_python=$(sed -n '1s/^#! *//p' "$(command -v sphinx-build)")
	${sphinx_python:-python3} -c 'import sys, importlib.metadata as m
print(sys.version, sorted((d.metadata["Name"] or "", d.version) for d in m.distributions()))'
	if command -v dot >/dev/null; then dot -V 2>&1; else echo "no graphviz"; fi
} | sha256sum | cut -c1-32)
kept=$FRESNEL_CONTENT/sphinx-base/$key.txt
if [ -f "$kept" ]; then
	ok "Sphinx: the base's warnings from $kept (built there before)"
	cp "$kept" "$work/base.txt"
else
	build base "$base"
	mkdir -p "${kept%/*}"
	if ! { cp "$work/base.txt" "$kept.tmp.$$" && mv "$kept.tmp.$$" "$kept"; }; then
		rm -f "$kept.tmp.$$"
		die "could not keep the base's Sphinx warnings in $kept"
	fi
fi
build series "$head"
added_warnings "Sphinx $sphinx_dirs" "$work/base.txt" "$work/series.txt"
