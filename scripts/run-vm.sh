#!/usr/bin/env bash
# run-vm.sh KIND INITRAMFS RUNDIR: boot the KIND kernel with INITRAMFS under
# QEMU and leave console.log (ttyS0: kernel messages) and results.log (ttyS1:
# the guest's stage markers and outputs) in RUNDIR. Never trusts QEMU's exit
# status: fresnel-rig judges the logs. KVM is used only if a probe showed that
# it boots here (on these machines it does not: TCG is the norm).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

kind=${1:?usage: run-vm.sh KIND INITRAMFS RUNDIR}
initramfs=${2:?usage: run-vm.sh KIND INITRAMFS RUNDIR}
rundir=${3:?usage: run-vm.sh KIND INITRAMFS RUNDIR}
kernel=$(kernel_dir)/artifacts/$kind/bzImage
[ -f "$kernel" ] || die "no $kind kernel at $kernel: run scripts/build-kernel.sh $kind"
limit=${FRESNEL_VM_TIMEOUT:-2700}
mkdir -p "$rundir"
rm -f "$rundir/console.log" "$rundir/results.log"

qemu_common=(-machine q35 -smp 2 -m 2048 -display none -monitor none -no-reboot
	-kernel "$kernel" -initrd "$initramfs"
	-append "console=ttyS0 panic=-1 cma=512M kmemleak=on loglevel=6")

# One probe per machine and QEMU version: does KVM get this kernel to init?
probe=$FRESNEL_CACHE/kvm-probe-$(qemu-system-x86_64 --version | head -1 | sha256sum | cut -c1-12)
if [ ! -f "$probe" ]; then
	accel=tcg
	if [ -w /dev/kvm ]; then
		step "probing KVM (-cpu host,-arch-capabilities, 40 s limit)"
		ptmp=$(mktemp -d)
		timeout 40 qemu-system-x86_64 "${qemu_common[@]}" -accel kvm -cpu host,-arch-capabilities \
			-serial "file:$ptmp/console" -serial "file:$ptmp/results" >/dev/null 2>&1 || true
		if grep -q '@@FRESNEL KIND' "$ptmp/results" 2>/dev/null; then accel=kvm; fi
		rm -rf "$ptmp"
	fi
	echo "$accel" >"$probe"
fi
accel=$(cat "$probe")
if [ "$accel" = kvm ]; then
	accel_args=(-accel kvm -cpu 'host,-arch-capabilities')
	step "booting the $kind kernel under QEMU with KVM (limit ${limit}s)"
else
	accel_args=(-accel 'tcg,thread=multi' -cpu max)
	step "booting the $kind kernel under QEMU with TCG: KVM does not boot here ($probe) (limit ${limit}s)"
fi

# Built before the guest's clock starts: the guest's stage timeouts are wall time.
"$here/rig.sh" follow --help >/dev/null
start=$SECONDS
timeout --kill-after=10 "$limit" qemu-system-x86_64 "${qemu_common[@]}" "${accel_args[@]}" \
	-serial "file:$rundir/console.log" -serial "file:$rundir/results.log" \
	>"$rundir/qemu.log" 2>&1 &
qemu=$!
# Progress: each guest stage as it begins and ends, until the VM is gone.
"$here/rig.sh" follow "$rundir/results.log" --while-pid "$qemu" ||
	echo "(the progress display failed; the VM runs on)" >&2
rc=0
wait "$qemu" || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	printf 'timeout: the %s VM ran past %ss and was killed\n' "$kind" "$limit" | tee -a "$rundir/console.log" >&2
fi
echo "$((SECONDS - start))" >"$rundir/seconds"
ok "$kind VM finished in $((SECONDS - start)) s (logs in $rundir)"
