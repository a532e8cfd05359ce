#!/usr/bin/env bash
# run-vm.sh KIND INITRAMFS RUNDIR: boot the KIND kernel with INITRAMFS under
# QEMU and leave console.log (kernel messages) and results.log (the guest's
# stage markers and outputs) in RUNDIR. Never trusts QEMU's exit status:
# fresnel-rig judges the logs.
# KIND is a guest of vm/guests.list, which gives its architecture and time
# limit. x86_64 guests: the rig's kernels (scripts/build-kernel.sh) on q35,
# console ttyS0, results ttyS1. KVM is used only if a probe showed that it
# boots here (on these machines it does not: TCG is the norm).
# arm64 guests (package-arm64): the Arch Linux ARM package's kernel
# ($FRESNEL_PKGROOT/boot/Image-linux-fresnel-fourier, default
# $FRESNEL_PKGROOT=$FRESNEL_CACHE/package-arm64/root) on the virt machine
# under TCG, console ttyAMA0 (the PL011), results on a virtconsole (hvc0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

kind=${1:?usage: run-vm.sh KIND INITRAMFS RUNDIR}
initramfs=${2:?usage: run-vm.sh KIND INITRAMFS RUNDIR}
rundir=${3:?usage: run-vm.sh KIND INITRAMFS RUNDIR}
[ -f "$initramfs" ] || die "no initramfs at $initramfs: run scripts/build-initramfs.sh $kind $initramfs"
mkdir -p "$rundir"
rm -f "$rundir/console.log" "$rundir/results.log"

# setup_x86_64: qemu and qemu_args for the rig's x86_64 kernels.
setup_x86_64() {
	local kernel accel qemu_common accel_args
	kernel=$(kernel_dir)/artifacts/$kind/bzImage
	[ -f "$kernel" ] || die "no $kind kernel at $kernel: run scripts/build-kernel.sh $kind"
	qemu='qemu-system-x86_64'
	# 4 GiB: test-media's three vivid instances at 3840x2160 ran the guest
	# out of memory in 2. With 4 GiB, q35 maps part of the RAM above 4 GiB,
	# where the CMA area would land and vivid's dma-contig allocations
	# (32-bit DMA mask) could not use it: it is placed below 4 GiB.
	qemu_common=(-machine q35 -smp 2 -m 4096 -display none -monitor none -no-reboot
		-kernel "$kernel" -initrd "$initramfs"
		-append "console=ttyS0 panic=-1 cma=512M@0-4G kmemleak=on loglevel=6")

	accel=$("$here/probe-kvm.sh" "$kernel")
	if [ "$accel" = kvm ]; then
		accel_args=(-accel kvm -cpu 'host,-arch-capabilities')
		step "booting the $kind kernel under QEMU with KVM (limit ${limit}s)"
	else
		accel_args=(-accel 'tcg,thread=multi' -cpu max)
		step "booting the $kind kernel under QEMU with TCG: KVM does not boot here (scripts/probe-kvm.sh) (limit ${limit}s)"
	fi
	qemu_args=("${qemu_common[@]}" "${accel_args[@]}"
		-serial "file:$rundir/console.log" -serial "file:$rundir/results.log")
}

# setup_package_arm64: qemu and qemu_args for the package's arm64 kernel.
# The command line is the x86_64 one without kmemleak=on (the package's kernel
# has no DEBUG_KMEMLEAK and no kmemleak stage runs on it) and
# with 256 MiB of CMA instead of 512: the stages that allocate the biggest
# buffers (test-media's vivid at 3840x2160) are not run on this lane.
setup_package_arm64() {
	local pkgroot kernel
	pkgroot=${FRESNEL_PKGROOT:-$FRESNEL_CACHE/package-arm64/root}
	kernel=$pkgroot/boot/Image-linux-fresnel-fourier
	[ -f "$kernel" ] || die "no arm64 kernel at $kernel: extract the package into $pkgroot (or set FRESNEL_PKGROOT)"
	# QEMU's option parser splits -chardev's path at commas.
	case "$rundir" in *,*) die "RUNDIR '$rundir' has a comma, which -chardev path= cannot take: pick another" ;; esac
	qemu='qemu-system-aarch64'
	# pauth-impdef: TCG computes pointer authentication codes with QARMA5 by
	# default, costly on every function entry and return of a kernel built
	# with PAC; the implementation-defined algorithm is cheaper to emulate
	# and the guest cannot tell.
	qemu_args=(-machine virt -cpu 'max,pauth-impdef=on' -smp 2 -m 2048 -accel 'tcg,thread=multi'
		-display none -monitor none -no-reboot
		-kernel "$kernel" -initrd "$initramfs"
		-append "console=ttyAMA0 panic=-1 cma=256M loglevel=6"
		-serial "file:$rundir/console.log"
		-device virtio-serial-device -chardev "file,id=results,path=$rundir/results.log"
		-device 'virtconsole,chardev=results')
	step "booting the $kind kernel (arm64, virt) under QEMU with TCG (limit ${limit}s)"
}

# What the guest is and how it boots: vm/guests.list.
arch=$(guest_get "$kind" arch) || die "unknown KIND '$kind' (vm/guests.list names them)"
limit=${FRESNEL_VM_TIMEOUT:-$(guest_get "$kind" limit)}
case "$arch" in
x86_64) setup_x86_64 ;;
arm64) setup_package_arm64 ;;
esac

# Built before the guest's clock starts: the guest's stage timeouts are wall time.
"$here/rig.sh" follow --help >/dev/null
rm -f "$rundir/seconds"
start=$SECONDS
timeout --kill-after=10 "$limit" "$qemu" "${qemu_args[@]}" >"$rundir/qemu.log" 2>&1 &
qemu_pid=$!
# Progress: each guest stage as it begins and ends, until the VM is gone.
"$here/rig.sh" follow "$rundir/results.log" --while-pid "$qemu_pid" ||
	echo "(the progress display failed; the VM runs on)" >&2
rc=0
wait "$qemu_pid" || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	printf 'timeout: the %s VM ran past %ss and was killed\n' "$kind" "$limit" | tee -a "$rundir/console.log" >&2
fi
echo "$((SECONDS - start))" >"$rundir/seconds"
ok "$kind VM finished in $((SECONDS - start)) s (logs in $rundir)"
