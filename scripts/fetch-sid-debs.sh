#!/usr/bin/env bash
# fetch-sid-debs.sh vm_userspace|host_sid: download the pinned sid packages
# of that manifest.toml table (kept in the downloads cache under their
# sha256) and unpack them into $FRESNEL_CACHE/TABLE/<hash>/: for
# vm_userspace the guest's /usr (v4l2-compliance, v4l2-ctl, sid's C
# runtime), for host_sid the host checks' tools (sparse). Prints that
# directory. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

table=${1:?usage: fetch-sid-debs.sh vm_userspace|host_sid}
case "$table" in vm_userspace | host_sid) ;; *) die "unknown table '$table' (vm_userspace or host_sid)" ;; esac
pins=$(manifest_table "$table")
[ -n "$pins" ] || die "manifest.toml [$table] pins no package"
key=$(printf '%s\n' "$pins" | sha256sum | cut -c1-16)
root=$FRESNEL_CACHE/$table/$key
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
		die "$pkg=$ver (manifest.toml [$table]) is not served by sid or trixie-backports; 'apt-cache madison $pkg' with the private lists ($aptdir) shows what is"
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
