#!/usr/bin/env bash
# fetch-vm-busybox-arm64.sh: the arm64 guest's busybox, from Debian
# bookworm's busybox-static:arm64 (the host's dpkg has arm64 as a foreign
# architecture, so the system's apt lists serve it). The .deb is pinned below
# by version and sha256, kept in the downloads cache under its sha256, and
# unpacked into $FRESNEL_CACHE/vm-busybox-arm64/<sha256 prefix>/, which gets
# bin/busybox and applets (the applet names, one a line). Prints that
# directory. Idempotent; offline once the .deb is cached.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# The pin: bookworm's busybox-static for arm64, the same source version as
# the amd64 busybox-static the x86_64 guest copies from the host. A point
# release that replaces it drops this version from the index: then take the
# new Version and SHA256 from `apt-cache show busybox-static:arm64`.
pkg=busybox-static:arm64
ver=1:1.35.0-4+deb12u1+b1
sha=732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5

root=$FRESNEL_CACHE/vm-busybox-arm64/${sha:0:16}
if [ -f "$root/.complete" ]; then
	echo "$root"
	exit 0
fi
# download_one: run by fetch_verified in an empty directory, only when the
# cache lacks the .deb. apt-get checks the download against the signed
# index; the index must also still give the pinned sha256.
download_one() {
	local indexed
	dpkg --print-foreign-architectures | grep -qx arm64 ||
		die "dpkg has no arm64 foreign architecture, so apt cannot see $pkg: run 'dpkg --add-architecture arm64 && apt-get update'"
	indexed=$(apt-cache show "$pkg=$ver" 2>/dev/null | awk '/^SHA256:/ {print $2; exit}')
	[ -n "$indexed" ] ||
		die "$pkg=$ver is not in the apt lists: run apt-get update, and if 'apt-cache policy $pkg' still lacks it, update the pin in ${BASH_SOURCE[0]}"
	[ "$indexed" = "$sha" ] ||
		die "the apt index gives $pkg=$ver sha256 $indexed, the pin in ${BASH_SOURCE[0]} says $sha: check which is right and update the pin"
	step "downloading $pkg $ver" >&2
	with_timeout 600 "download $pkg=$ver" apt-get -q -o APT::Sandbox::User=root download "$pkg=$ver" >&2
}
deb=
fetch_verified "$sha" deb download_one

mkdir -p "$(dirname "$root")"
tmp=$(mktemp -d "$root.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/deb"
mkdir -p "$tmp/bin"
mv "$tmp/deb/bin/busybox" "$tmp/bin/busybox"
rm -rf "$tmp/deb"
# The applet list without running the binary (it is aarch64; `busybox
# --list` runs only on the guest). busybox keeps its applet names in one
# table, applet_names[]: NUL-separated, sorted by strcmp, starting "[", "[[".
# Read the binary as NUL-separated strings, find that start, and take names
# while they stay sorted and look like applet names; the first string that
# does not ends the table (awk reads on to the end: an early exit would
# kill tr with SIGPIPE). For this pin the result equals the host's amd64
# busybox-static --list (same source version), 269 names.
LC_ALL=C tr '\0' '\n' <"$tmp/bin/busybox" | LC_ALL=C awk '
	on == 2 { next }
	on && /^[a-z0-9_.[-]+$/ && $0 > last { print; last = $0; next }
	on { on = 2; next }
	prev == "[" && $0 == "[[" { on = 1; print "["; print; last = $0 }
	{ prev = $0 }' >"$tmp/applets"
for need in sh mount modprobe insmod rmmod timeout poweroff dmesg cat sleep; do
	grep -qx "$need" "$tmp/applets" ||
		die "applet '$need' not found in the applet table read from $deb ($(wc -l <"$tmp/applets") names): the table's layout changed; check the reader in ${BASH_SOURCE[0]}"
done
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
touch "$root/.complete"
echo "$root"
