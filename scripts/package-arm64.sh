#!/usr/bin/env bash
# package-arm64.sh: build the linux-fresnel-fourier packages with makepkg, as
# an unprivileged user, the way a user runs scripts/makepkg.sh on the
# PineBook Pro, but as an aarch64 cross build on this host (clang and rustc
# are cross compilers) and with the reduced rig config
# (FRESNEL_PKG_CONFIG=rig, PKGBUILD). Then check the three packages' contents,
# unpack them into one root (what `pacman -U` would install) and build
# rust-kmod out of tree against the unpacked headers package.
# Output: $FRESNEL_CACHE/package-arm64/{packages,root}; logs beside them.
# Env: FRESNEL_BUILD_USER (default fresnel-build) runs makepkg.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

work=$FRESNEL_CACHE/package-arm64
co=$work/checkout
bin=$work/toolchain/bin
user=${FRESNEL_BUILD_USER:-fresnel-build}
mkdir -p "$work" "$bin" "$work/home"
[ "$(id -u)" -eq 0 ] || die "run as root: makepkg runs as the build user $user, started with runuser"
ensure_build_user "$user"

# The checkout as it is now (tracked and new files), copied afresh where
# the build user can read and write it: makepkg.sh builds tools/ and stages
# there. Afresh, so that nothing an earlier run left in it (makepkg's src/,
# build output) can be mistaken for this run's.
step "copying the checkout for the build user ($co)"
rm -rf "$co"
mkdir -p "$co"
git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard |
	rsync -a --from0 --files-from=- "$REPO_ROOT/" "$co/"

# What a PineBook Pro has under these names, from Debian's packages: clang
# and the LLVM tools (through ccache), Debian's rustc and cargo (rustc-web,
# with the library source CONFIG_RUST needs), the pinned bindgen-cli.
step "toolchain for the cross build ($bin)"
cat >"$bin/clang" <<'EOF'
#!/bin/sh
exec ccache clang-19 "$@"
EOF
chmod 755 "$bin/clang"
for t in ld.lld llvm-ar llvm-nm llvm-objcopy llvm-objdump llvm-readelf llvm-strip; do
	ln -sfn "/usr/bin/$t-19" "$bin/$t"
done
ln -sfn /usr/bin/rustc "$bin/rustc"
ln -sfn /usr/bin/rustdoc "$bin/rustdoc"
ln -sfn /usr/bin/cargo "$bin/cargo"
install -m 755 "$HOME/.cargo/bin/bindgen" "$bin/bindgen"

# makepkg.conf for the target: CARCH names the packages' architecture.
conf=$work/makepkg.conf
{
	cat /etc/makepkg.conf
	echo "CARCH=\"aarch64\""
	echo "CHOST=\"aarch64-unknown-linux-gnu\""
	echo "MAKEFLAGS=\"-j$(nproc)\""
	echo "PKGEXT='.pkg.tar.zst'"
	echo "BUILDENV=(!distcc !color !ccache !check !sign)"
} >"$conf"

# The base, from the downloads cache (sha256-checked there; makepkg checks
# it again against the PKGBUILD).
# The PKGBUILD's $_srcdeb is apt's name for it.
deb=$("$here/fetch-kernel-source.sh" --deb)
stage=$co/build/makepkg
mkdir -p "$stage"
ln -sfn "$deb" "$stage/$(manifest_get ci_base package)_$(ci_base_version)_all.deb"

ccache_dir=$FRESNEL_CONTENT/ccache-package-arm64
cargo_home=$FRESNEL_CONTENT/cargo-home-$user
mkdir -p "$ccache_dir" "$cargo_home"
chown -R "$user" "$work" "$ccache_dir" "$cargo_home"

# makepkg_as_builder CONFIG LIMIT LOG ARGS...: scripts/makepkg.sh ARGS as the
# build user, FRESNEL_PKG_CONFIG=CONFIG, a minute-by-minute progress line,
# killed after LIMIT seconds. --nodeps: the makedepends are Debian's
# packages here, which pacman does not know. Everything else is makepkg as a
# user runs it.
makepkg_as_builder() {
	local config=$1 limit=$2 log=$3 start=$SECONDS rc=0
	shift 3
	with_progress "$log" runuser -u "$user" -- env -i HOME="$work/home" PATH="$bin:/usr/bin:/bin" LANG=C.UTF-8 \
		MAKEPKG_CONF="$conf" FRESNEL_PKG_CONFIG="$config" CARGO_HOME="$cargo_home" \
		CCACHE_DIR="$ccache_dir" CCACHE_BASEDIR="$work" CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=4G \
		timeout --kill-after=30 "$limit" "$co/scripts/makepkg.sh" --nodeps "$@" || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 30 "$log" >&2
		[ "$rc" -ne 124 ] || die "makepkg ($config) timed out after $limit s; full log: $log"
		die "makepkg ($config) failed (exit $rc); full log: $log"
	fi
	ok "makepkg ($config) done in $((SECONDS - start)) s"
}

# The default config, as far as it can go here: ALARM's full config takes
# hours to build on 2 cores, so prepare() only (unpack, strict apply,
# ALARM's config + config.pinebook-pro + config.fragment, the config check).
step "makepkg --nobuild as $user: prepare() with the default config (ALARM's); log: $work/makepkg-alarm.log"
makepkg_as_builder alarm 1200 "$work/makepkg-alarm.log" --nobuild --noconfirm
step "makepkg as $user: aarch64 cross build, FRESNEL_PKG_CONFIG=rig (cold: ~17 min on 2 cores, warm: ~6 min); log: $work/makepkg.log"
makepkg_as_builder rig 5400 "$work/makepkg.log" --force --noconfirm
# makepkg works in build/makepkg/ only: kbuild output in the checkout's
# rust-kmod/ means M= pointed through the staged symlink into it.
stray=$(find "$co/rust-kmod" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \) -print -quit)
[ -z "$stray" ] || die "makepkg built into the checkout ($stray): the PKGBUILD must build rust-kmod in \$srcdir"

pkgs=$work/packages
rm -rf "$pkgs"
mkdir -p "$pkgs"
cp "$stage"/*-aarch64.pkg.tar.zst "$pkgs/"
"$REPO_ROOT/scripts/tools.sh" pkgbuild contents --dir "$pkgs" --manifest "$REPO_ROOT/manifest.toml"

step "unpacking the packages into $work/root (what pacman -U installs)"
root=$work/root
rm -rf "$root"
mkdir -p "$root"
for p in "$pkgs"/*.pkg.tar.zst; do
	bsdtar -xf "$p" -C "$root" --exclude '.PKGINFO' --exclude '.BUILDINFO' --exclude '.MTREE' --exclude '.INSTALL'
done
kver=$(cat "$root"/usr/share/linux-fresnel-fourier/kernelrelease)

# As a user would after `pacman -U`: rust-kmod against the headers package,
# in a scratch copy (kbuild writes into M=).
step "building rust-kmod against the unpacked headers package ($kver)"
kmod=$work/rust-kmod
rm -rf "$kmod"
cp -a "$REPO_ROOT/rust-kmod" "$kmod"
with_timeout 900 "rust-kmod against the headers package" env PATH="$bin:$PATH" \
	make -C "$kmod" KDIR="$root/usr/lib/modules/$kver/build" ARCH=arm64 LLVM=1 \
	RUSTC=/usr/bin/rustc BINDGEN="$bin/bindgen" modules >"$work/rust-kmod.log" 2>&1 ||
	{
		tail -n 30 "$work/rust-kmod.log" >&2
		die "rust-kmod does not build against the headers package; log: $work/rust-kmod.log"
	}
vermagic=$(modinfo -F vermagic "$kmod/vb2_fence_probe.ko")
[ "${vermagic%% *}" = "$kver" ] ||
	die "rust-kmod built against the headers package has vermagic '$vermagic', not $kver"
ok "packages in $pkgs, unpacked in $root; rust-kmod builds against the headers ($vermagic)"
