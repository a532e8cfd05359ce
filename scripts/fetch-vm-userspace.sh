#!/usr/bin/env bash
# Download the pinned sid packages of manifest.toml [vm_userspace] and unpack
# them into $FRESNEL_CACHE/vm-userspace/<hash>/, the guest's /usr for
# v4l2-compliance and v4l2-ctl. Prints that directory. Idempotent.
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
while IFS='=' read -r pkg ver; do
	dir=$aptdir/debs/vm/$pkg=$ver
	if ! compgen -G "$dir/*.deb" >/dev/null; then
		private_apt_update
		mkdir -p "$dir"
		step "downloading $pkg $ver" >&2
		(cd "$dir" && with_timeout 600 "download $pkg=$ver" apt-get "${APT[@]}" download "$pkg=$ver" >&2) ||
			die "$pkg=$ver (manifest.toml [vm_userspace]) could not be downloaded; 'apt-cache madison $pkg' with the private lists shows what is served"
	fi
done <<<"$pins"
mkdir -p "$(dirname "$root")"
tmp=$(mktemp -d "$root.XXXXXX")
while IFS='=' read -r pkg ver; do
	for deb in "$aptdir/debs/vm/$pkg=$ver"/*.deb; do dpkg-deb -x "$deb" "$tmp"; done
done <<<"$pins"
rm -rf "$root"
mv "$tmp" "$root"
touch "$root/.complete"
echo "$root"
