#!/usr/bin/env bash
# check-package.sh: the PKGBUILD is in step with manifest.toml (series, order,
# checksums), makepkg itself reads it the same way (--printsrcinfo as an
# unprivileged user: makepkg refuses root), the extlinux helper passes its
# fixture tests, and the package's shell is shellcheck clean.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

build_user=${FRESNEL_BUILD_USER:-fresnel-build}
pkgbuild=$REPO_ROOT/PKGBUILD

step "fresnel-tools pkgbuild check"
"$here/tools.sh" pkgbuild check --manifest "$REPO_ROOT/manifest.toml" --pkgbuild "$pkgbuild"

step "makepkg --printsrcinfo (as $build_user)"
work=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-srcinfo.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A copy, because the build user may not be able to read the checkout (e.g.
# a clone under /root); makepkg also wants the install= file beside it.
cp "$pkgbuild" "$work/PKGBUILD"
cp -r "$REPO_ROOT/package" "$work/package"
if [ "$(id -u)" -eq 0 ]; then
	ensure_build_user "$build_user"
	chown -R "$build_user" "$work"
	as_builder=(runuser -u "$build_user" --)
else
	as_builder=()
fi
# --printsrcinfo only sources the PKGBUILD; CARCH matters for nothing it prints.
(cd "$work" && with_timeout 120 "makepkg --printsrcinfo" \
	"${as_builder[@]}" env HOME="$work" makepkg --printsrcinfo >"$work/.SRCINFO.tmp")
mv "$work/.SRCINFO.tmp" "$work/.SRCINFO"
grep -E '^(pkgbase|pkgname) = ' "$work/.SRCINFO" | sed 's/^/    /'
"$here/tools.sh" pkgbuild check --manifest "$REPO_ROOT/manifest.toml" --pkgbuild "$pkgbuild" \
	--srcinfo "$work/.SRCINFO"

step "extlinux-entry.sh on its fixture files"
"$REPO_ROOT/package/tests/extlinux-entry-test.sh"

step "rust-kmod refuses headers built by another rustc"
"$REPO_ROOT/package/tests/rustc-check-test.sh"

step "makepkg twice with an edit between (source steps only, stub base package)"
FRESNEL_BUILD_USER=$build_user "$REPO_ROOT/package/tests/makepkg-rebuild-test.sh"

step "shellcheck PKGBUILD and package helpers"
# PKGBUILD-specific excludes:
#  SC2034 the metadata arrays (source, sha256sums, depends, ...) look unused
#         to shellcheck but are what makepkg reads;
#  SC2154 srcdir/pkgdir are set by makepkg before it calls the functions;
#  SC2164 makepkg runs prepare/build/package with errexit, so a failed cd
#         already stops the build (the ALARM/Arch PKGBUILD style).
cd "$REPO_ROOT"
shellcheck -s bash -e SC2034,SC2154,SC2164 PKGBUILD
# -x: follow `. "$here/lib.sh"` (the source= directives are repo-relative).
shellcheck -x -s bash package/extlinux-entry.sh package/linux-fresnel-fourier.install \
	package/tests/extlinux-entry-test.sh package/tests/makepkg-rebuild-test.sh \
	package/tests/rustc-check-test.sh \
	scripts/makepkg.sh scripts/check-package.sh scripts/check-tools.sh scripts/export-rfc.sh
ok "PKGBUILD, .SRCINFO and manifest agree; shellcheck clean"
