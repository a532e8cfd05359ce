#!/usr/bin/env bash
# Download the pinned sid packages of manifest.toml [vm_userspace] (kept in
# the downloads cache under their sha256) and unpack them into
# $FRESNEL_CACHE/vm-userspace/<hash>/, the guest's /usr for v4l2-compliance
# and v4l2-ctl. Prints that directory. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

pins=$(manifest_table vm_userspace)
key=$(printf '%s\n' "$pins" | sha256sum | cut -c1-16)
root=$FRESNEL_CACHE/vm-userspace/$key
if [ -f "$root/.complete" ]; then
	echo "$root"
	exit 0
fi
private_apt_setup
# The lists are state: refreshed once per run. Each pinned package is
# fetched into the downloads cache under the sha256 the signed index gives.
private_apt_update >&2
# download_one: run by fetch_verified in an empty directory; $pkg and $ver
# are the loop's.
download_one() {
	step "downloading $pkg $ver" >&2
	with_timeout 600 "download $pkg=$ver" apt-get "${APT[@]}" download "$pkg=$ver" >&2
}
debs=()
while IFS='=' read -r pkg ver; do
	sha=$(apt-cache "${APT[@]}" show "$pkg=$ver" 2>/dev/null | awk '/^SHA256:/ {print $2; exit}')
	[ -n "$sha" ] ||
		die "$pkg=$ver (manifest.toml [vm_userspace]) is not served by sid or trixie-backports; 'apt-cache madison $pkg' with the private lists ($aptdir) shows what is"
	deb=
	fetch_verified "$sha" deb download_one
	debs+=("$deb")
done <<<"$pins"
mkdir -p "$(dirname "$root")"
tmp=$(mktemp -d "$root.XXXXXX")
for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$tmp"; done
rm -rf "$root"
mv "$tmp" "$root"
touch "$root/.complete"
echo "$root"
