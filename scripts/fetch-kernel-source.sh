#!/usr/bin/env bash
# Download the pinned Debian linux-source package (manifest.toml [ci_base])
# through a private apt configuration (sid + trixie-backports are never added
# to the system's sources) into the downloads cache under its sha256 (pinned
# as deb_sha256), and unpack it into a git tree tagged
# `ci-base` under $FRESNEL_CACHE/kernel/<version>/src. Idempotent.
# --deb: only make sure the package is in the downloads cache; print its path
# (the PKGBUILD's base, scripts/package-arm64.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

pkg=$(manifest_get ci_base package)
ver=$(ci_base_version)
want_sha=$(manifest_get ci_base deb_sha256)
kdir=$(kernel_dir)
src=$kdir/src

only_deb=
[ "${1:-}" != --deb ] || only_deb=1
if [ -z "$only_deb" ] && git -C "$src" rev-parse -q --verify ci-base >/dev/null 2>&1; then
	ok "kernel source $pkg $ver already at $src"
	exit 0
fi

private_apt_setup

# download_pinned: run in an empty directory by fetch_verified.
download_pinned() {
	private_apt_update
	local avail
	avail=$(apt-cache "${APT[@]}" madison "$pkg" | awk '{print $3}' | paste -sd' ')
	if ! grep -qxF -- "$ver" <(tr ' ' '\n' <<<"$avail"); then
		die "pinned kernel source $pkg=$ver (manifest.toml [ci_base]) is no longer served; available: ${avail:-none}. Pick one, set [ci_base] version and deb_sha256, and rerun."
	fi
	step "downloading $pkg $ver (~164 MB)"
	with_timeout 1200 "download $pkg" apt-get "${APT[@]}" download "$pkg=$ver"
}
deb=
fetch_verified "$want_sha" deb download_pinned >&2
if [ -n "$only_deb" ]; then
	echo "$deb"
	exit 0
fi

step "unpacking $pkg $ver into $src"
mkdir -p "$kdir"
tmp=$(mktemp -d "$kdir/unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/src/
tarball=$(manifest_get ci_base tarball)
mkdir -p "$tmp/tree"
with_timeout 900 "untar kernel source" tar -xJf "$tmp/usr/src/$tarball" -C "$tmp/tree" --strip-components=1
rm -rf "${tmp:?}/usr"
step "committing the pristine tree (git, tag ci-base)"
git -C "$tmp/tree" init -q -b base
# No automatic gc: the first commit leaves some 80k loose objects, and the
# gc it triggers runs detached for minutes holding HEAD.lock, which the
# patched tree's checkout then finds (CI, 7 Dec 2026). Nothing here needs
# the objects packed.
git -C "$tmp/tree" config gc.auto 0
git -C "$tmp/tree" config maintenance.auto false
# Debian's top-level .gitignore ignores everything at the top level: -f.
git -C "$tmp/tree" add -f .
git -C "$tmp/tree" -c user.name=fresnel-rig -c user.email=rig@fresnel-fourier.invalid \
	commit -q -m "Debian $pkg $ver"
git -C "$tmp/tree" tag ci-base
rm -rf "$src"
mv "$tmp/tree" "$src"
ok "kernel source ready at $src"
