#!/usr/bin/env bash
# build-initramfs.sh KIND OUT.cpio.gz: pack the guest for one kernel.
# x86_64 guests: busybox-static, the kernel's modules, sid's v4l-utils with
# its runtime, the suite binaries, the Rust module (built against the
# patched debug kernel: the guests whose config is debug), vm/init and
# KIND's stages of vm/stages.list.
# Inputs: $kdir/artifacts/KIND/{modules,vb2_fence_probe.ko},
# $FRESNEL_CACHE/suite-bin/.
# package-arm64: the arm64 kernel of the Arch Linux ARM package (PKGBUILD),
# extracted into $FRESNEL_PKGROOT (default $FRESNEL_CACHE/package-arm64/root):
# bookworm's busybox-static:arm64, the package's modules (depmod run here),
# its vb2_fence_probe.ko, the static aarch64 suite from
# $FRESNEL_CACHE/suite-bin-aarch64/ and its stages of vm/stages.list.
# What each guest calls itself and where its results go: vm/guests.list.
# FRESNEL_STAGES overrides the stage table (a table in its format).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

usage="usage: build-initramfs.sh KIND OUT.cpio.gz (KIND a guest of vm/guests.list)"
kind=${1:?$usage}
out=${2:?$usage}

root=$(mktemp -d "${TMPDIR:-/tmp}/fresnel-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/libexec/fresnel,etc/fresnel,proc,sys,dev,tmp,lib/fresnel}

# pack_x86_64: the guest of the rig's x86_64 kernels (control, patched,
# canary); results on the second UART.
pack_x86_64() {
	local art suite_bin userspace b f applet patched_art
	art=$(kernel_dir)/artifacts/$kind
	suite_bin=$FRESNEL_CACHE/suite-bin
	[ -d "$art/modules/lib/modules" ] || die "no modules for the $kind kernel in $art: run scripts/build-kernel.sh $kind first"
	for b in "${SUITE_BINS[@]}"; do
		[ -x "$suite_bin/$b" ] || die "$suite_bin/$b missing: run scripts/build-suite.sh first"
	done
	userspace=$("$here/fetch-sid-debs.sh" vm_userspace)

	mkdir -p "$root"/{usr/lib/x86_64-linux-gnu,usr/lib64}
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
	# The Rust module goes into every debug x86_64 guest: the patched one
	# loads and checks it, the control one checks that it refuses to load
	# without the series (the canary's stages do not use it). It is built
	# against the patched debug kernel, whose lockdep changes the layout of
	# what it touches: a production kernel gets none.
	[ "$(guest_get "$kind" config)" = debug ] || return 0
	patched_art=$(kernel_dir)/artifacts/patched
	for f in vb2_fence_probe.ko vb2fp-selftest kmod-check.sh; do
		[ -f "$patched_art/$f" ] || die "$patched_art/$f missing: run scripts/build-kmod.sh first"
	done
	cp "$patched_art/vb2_fence_probe.ko" "$root/lib/fresnel/"
	cp "$patched_art/vb2fp-selftest" "$patched_art/kmod-check.sh" "$root/usr/bin/"
}

# pack_package_arm64: the guest of the package's arm64 kernel; results on
# a virtconsole (run-vm.sh adds it), as the virt machine has one PL011.
pack_package_arm64() {
	local pkgroot suite_bin busybox release kver moddir b applet ko
	pkgroot=${FRESNEL_PKGROOT:-$FRESNEL_CACHE/package-arm64/root}
	suite_bin=$FRESNEL_CACHE/suite-bin-aarch64
	[ -d "$pkgroot/usr/lib/modules" ] ||
		die "no $pkgroot/usr/lib/modules: extract the package's three .pkg.tar.* into $pkgroot (or point FRESNEL_PKGROOT at where they are)"
	for b in "${SUITE_BINS[@]}" vb2fp-selftest kmod-check.sh; do
		[ -f "$suite_bin/$b" ] || die "$suite_bin/$b missing: build the aarch64 suite (static) into $suite_bin first"
		# An ELF's e_machine (offset 18, little-endian) is 183 for AArch64.
		if [ "$(head -c 4 "$suite_bin/$b")" = $'\x7fELF' ] &&
			[ "$(od -An -tu2 -j18 -N2 "$suite_bin/$b" | tr -d ' ')" != 183 ]; then
			die "$suite_bin/$b is not an AArch64 binary ($(file -b "$suite_bin/$b" | cut -d, -f1-2)): rebuild it for aarch64"
		fi
	done
	# The kernel release, as the package records it (pkgbuild contents
	# requires the file).
	release=$pkgroot/usr/share/linux-fresnel-fourier/kernelrelease
	[ -f "$release" ] || die "$release missing: is $pkgroot the unpacked packages of scripts/package-arm64.sh?"
	kver=$(cat "$release")
	moddir=$pkgroot/usr/lib/modules/$kver
	[ -f "$moddir/modules.order" ] || die "$moddir/modules.order missing: is $kver the release of the kernel in $pkgroot?"
	if [ -n "$(find "$moddir" -path "$moddir/build" -prune -o -name '*.ko.*' -print -quit)" ]; then
		die "$moddir has compressed modules (*.ko.*); the guest's busybox modprobe is tested with plain .ko only: build with CONFIG_MODULE_COMPRESS_NONE"
	fi
	ko=$(find "$moddir" -path "$moddir/build" -prune -o -name vb2_fence_probe.ko -print)
	[ "$(printf '%s\n' "$ko" | grep -c .)" = 1 ] ||
		die "expected one vb2_fence_probe.ko under $moddir (the -vb2-fence-probe package), found: ${ko:-none}"
	busybox=$("$here/fetch-vm-busybox-arm64.sh")

	cp "$busybox/bin/busybox" "$root/bin/busybox"
	# The applet names were read from the binary's own table (it cannot run
	# here): see fetch-vm-busybox-arm64.sh.
	while read -r applet; do
		[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
	done <"$busybox/applets"

	# Modules: the tree without build/ (the -headers package's source tree),
	# indexed here: the package installs them without modules.dep.
	mkdir -p "$root/lib/modules/$kver"
	tar -C "$moddir" --exclude=./build -cf - . | tar -C "$root/lib/modules/$kver" -xf -
	with_timeout 300 "depmod $kver" depmod -b "$root" "$kver"
	cp "$ko" "$root/lib/fresnel/vb2_fence_probe.ko"
	for b in "${SUITE_BINS[@]}" vb2fp-selftest kmod-check.sh; do
		cp "$suite_bin/$b" "$root/usr/bin/"
		chmod 755 "$root/usr/bin/$b"
	done
}

# What the guest is and how it boots: vm/guests.list.
arch=$(guest_get "$kind" arch) || die "unknown KIND '$kind' (vm/guests.list names them); $usage"
case "$arch" in
x86_64) pack_x86_64 ;;
arm64) pack_package_arm64 ;;
esac

cp "$REPO_ROOT/vm/init" "$root/init"
cp "$REPO_ROOT"/vm/stages/*.sh "$root/usr/libexec/fresnel/"
chmod +x "$root/init" "$root"/usr/libexec/fresnel/*.sh
guest_get "$kind" calls >"$root/etc/fresnel/kind"
guest_get "$kind" port >"$root/etc/fresnel/results-port"
# The hardware opt-ins and the defaults the package may ship
# (vm/stages/hardware-optins.sh checks them; the on-target run switches them).
"$here/tools.sh" manifest hardware-optins --manifest "$REPO_ROOT/manifest.toml" \
	>"$root/etc/fresnel/hardware-optins"
# The guest gets "name timeout command..." per stage of KIND (the rig is
# the stage table's one reader; the verdict column is its judge's).
"$here/rig.sh" stages --guest "$kind" "${FRESNEL_STAGES:-$REPO_ROOT/vm/stages.list}" \
	>"$root/etc/fresnel/stages"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
ok "initramfs for $kind: $out ($(du -h "$out" | cut -f1))"
