#!/usr/bin/env bash
# makepkg-rebuild-test.sh: makepkg's source steps (fetch, checksums, extract)
# the way scripts/makepkg.sh runs them, on a copy of the checkout, twice, with an edit of package/config.fragment
# and `pkgbuild update --bump` between the runs, as a user rebuilding after a
# change would. Both runs must pass makepkg's checksum step, and the copy's
# `git status --porcelain` must stay empty after each. No kernel is built:
# the base package is a stub (its sum replaced in the copy's PKGBUILD)
# and prepare() does not run. makepkg refuses root: as root it runs as
# FRESNEL_BUILD_USER, and the staging step (`pkgbuild stage`, which needs
# cargo) runs before it as the caller.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh"

build_user=${FRESNEL_BUILD_USER:-fresnel-build}
work=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-makepkg.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # the build user works in it
co=$work/checkout
mkdir -p "$co"
# The checkout as it is now (tracked and new files, edits included).
git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard |
	tar -C "$REPO_ROOT" --null -T - --ignore-failed-read -cf - | tar -C "$co" -xf -

# The stub base stands where makepkg downloads the real one (the PKGBUILD's
# $_srcdeb, apt's name for Debian's linux-source package; noextract).
tools=("$REPO_ROOT/scripts/tools.sh" manifest get --manifest "$REPO_ROOT/manifest.toml")
deb="$("${tools[@]}" ci_base package)_$("${tools[@]}" ci_base version)_all.deb"
stage=$co/build/makepkg
mkdir -p "$stage"
echo "stub" >"$stage/$deb"
stub_sum=$(sha256sum "$stage/$deb" | cut -d' ' -f1)
sed -i "s/^sha256sums=('[0-9a-f]\{64\}'/sha256sums=('$stub_sum'/" "$co/PKGBUILD"
grep -q "^sha256sums=('$stub_sum'" "$co/PKGBUILD" || die "could not put the stub base's sum into the PKGBUILD copy"

git_co() { git -C "$co" -c safe.directory="*" -c user.name=test -c user.email=test@example.org "$@"; }
git_co init -q
git_co add -A
git_co commit -qm "checkout with a stub base"

if [ "$(id -u)" -eq 0 ]; then
	ensure_build_user "$build_user"
	as_builder=(runuser -u "$build_user" --)
else
	as_builder=()
fi

# makepkg_sources RUN: fetch + checksums, then extract, then the tree is clean.
makepkg_sources() {
	local run=$1 out
	"$REPO_ROOT/scripts/tools.sh" pkgbuild stage --manifest "$co/manifest.toml" --dir "$stage" >/dev/null
	[ "$(id -u)" -ne 0 ] || chown -R "$build_user" "$co"
	for args in "--verifysource" "--nobuild --noprepare --nodeps"; do
		# shellcheck disable=SC2086 # two fixed option lists
		if ! out=$(cd "$stage" && "${as_builder[@]}" env HOME="$work" \
			timeout 300 makepkg --ignorearch --skippgpcheck $args 2>&1); then
			printf '%s\n' "$out" >&2
			die "$run: makepkg $args failed"
		fi
	done
	out=$(git -C "$co" -c safe.directory="*" status --porcelain --untracked-files=all)
	[ -z "$out" ] || die "$run: makepkg left the checkout unclean:
$out"
	ok "$run: makepkg fetched, verified and extracted; checkout clean"
}

makepkg_sources "first build"
echo "# edited between two builds" >>"$co/package/config.fragment"
"$REPO_ROOT/scripts/tools.sh" pkgbuild update --bump --manifest "$co/manifest.toml" >/dev/null
git_co commit -qam "edit the config fragment, bump pkgrel"
makepkg_sources "second build after an edit"
