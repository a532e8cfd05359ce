#!/usr/bin/env bash
# build-initramfs.sh KIND OUT.cpio.gz: pack the guest for one kernel (control,
# patched or canary): busybox-static, the kernel's modules, sid's v4l-utils with its
# runtime, the suite binaries, the Rust module (patched only), vm/init and the
# stages of vm/stages.list that apply to KIND.
# Inputs: $kdir/artifacts/KIND/{modules,vb2_fence_probe.ko}, $FRESNEL_CACHE/suite-bin/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

kind=${1:?usage: build-initramfs.sh control|patched|canary OUT.cpio.gz}
out=${2:?usage: build-initramfs.sh control|patched|canary OUT.cpio.gz}
art=$(kernel_dir)/artifacts/$kind
suite_bin=$FRESNEL_CACHE/suite-bin
[ -d "$art/modules/lib/modules" ] || die "no modules for the $kind kernel in $art: run scripts/build-kernel.sh $kind first"
for b in "${SUITE_BINS[@]}"; do
	[ -x "$suite_bin/$b" ] || die "$suite_bin/$b missing: run scripts/build-suite.sh first"
done
userspace=$("$here/fetch-vm-userspace.sh")

root=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64,usr/libexec/fresnel,etc/fresnel,proc,sys,dev,tmp,lib/fresnel}
ln -s usr/lib64 "$root/lib64"
ln -s ../usr/lib/x86_64-linux-gnu "$root/lib/x86_64-linux-gnu"

cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# sid's glibc and C++ runtime serve both v4l-utils and the Rust binaries,
# which were linked against bookworm's older glibc (forward compatible).
cp -a "$userspace/usr/lib/x86_64-linux-gnu/." "$root/usr/lib/x86_64-linux-gnu/"
cp -a "$userspace/usr/lib64/." "$root/usr/lib64/"
cp -a "$userspace/usr/bin/v4l2-compliance" "$userspace/usr/bin/v4l2-ctl" "$root/usr/bin/"

cp -a "$art/modules/lib/modules" "$root/lib/"
for b in "${SUITE_BINS[@]}"; do
	cp "$suite_bin/$b" "$root/usr/bin/"
done
# The Rust module goes into both guests: the patched one loads and checks it,
# the control one checks that it refuses to load without the series. The
# canary's stages do not use it.
if [ "$kind" != canary ]; then
	patched_art=$(kernel_dir)/artifacts/patched
	for f in vb2_fence_probe.ko vb2fp-selftest kmod-check.sh; do
		[ -f "$patched_art/$f" ] || die "$patched_art/$f missing: run scripts/build-kmod.sh first"
	done
	cp "$patched_art/vb2_fence_probe.ko" "$root/lib/fresnel/"
	cp "$patched_art/vb2fp-selftest" "$patched_art/kmod-check.sh" "$root/usr/bin/"
fi

cp "$REPO_ROOT/vm/init" "$root/init"
cp "$REPO_ROOT"/vm/stages/*.sh "$root/usr/libexec/fresnel/"
chmod +x "$root/init" "$root"/usr/libexec/fresnel/*.sh
echo "$kind" >"$root/etc/fresnel/kind"
# Columns of stages.list: name timeout kernels verdict command...; the guest
# gets "name timeout command..." (the verdict column is the judge's).
awk -v k="$kind" '!/^#/ && NF >= 5 && ($3 == "both" || $3 == k) {
	printf "%s %s", $1, $2; for (i = 5; i <= NF; i++) printf " %s", $i; printf "\n" }' \
	"${FRESNEL_STAGES:-$REPO_ROOT/vm/stages.list}" >"$root/etc/fresnel/stages"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
ok "initramfs for $kind: $out ($(du -h "$out" | cut -f1))"
