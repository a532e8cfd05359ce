#!/usr/bin/env bash
# probe-kvm.sh BZIMAGE: whether KVM boots the rig's x86_64 kernels here;
# prints kvm or tcg. BZIMAGE boots under KVM with no initramfs for at most
# 40 s: KVM works if the kernel gets to the end of its boot, where it looks
# for a root filesystem (it panics for want of one, and QEMU exits). On these
# machines /dev/kvm opens but no guest boots, so a probe is the only way to
# know. One probe per machine and QEMU version, kept in $FRESNEL_CACHE:
# vm-test.sh runs it beside the builds, so that no guest waits for it;
# run-vm.sh reads it, probing first if nothing did.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

kernel=${1:?usage: probe-kvm.sh BZIMAGE}
[ -f "$kernel" ] || die "no kernel at $kernel to probe KVM with: run scripts/build-kernel.sh control"
probe=$FRESNEL_CACHE/kvm-probe-$(qemu-system-x86_64 --version | head -1 | sha256sum | cut -c1-12)
if [ ! -f "$probe" ]; then
	accel=tcg
	if [ -w /dev/kvm ]; then
		step "probing KVM with $kernel (-cpu host,-arch-capabilities, 40 s limit)" >&2
		ptmp=$(mktemp -d)
		trap 'rm -rf "$ptmp"' EXIT
		timeout 40 qemu-system-x86_64 -machine q35 -smp 2 -m 1024 -display none -monitor none \
			-no-reboot -accel kvm -cpu host,-arch-capabilities -kernel "$kernel" \
			-append "console=ttyS0 panic=-1" -serial "file:$ptmp/console" >/dev/null 2>&1 || true
		if grep -q 'VFS: Unable to mount root' "$ptmp/console" 2>/dev/null; then accel=kvm; fi
	fi
	echo "$accel" >"$probe.tmp"
	mv "$probe.tmp" "$probe"
fi
cat "$probe"
