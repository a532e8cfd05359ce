# shellcheck shell=bash
# Small helpers shared by the rig scripts. Sourced, never executed.
# Output convention: "==> " progress, "ok: " success, "error: " failure (stderr).

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# cargo and bindgen-cli live in rustup's bin directory, which a CI or cron
# environment may not have on PATH (or may run without HOME).
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
case ":$PATH:" in
*":$HOME/.cargo/bin:"*) ;;
*) PATH="$HOME/.cargo/bin:$PATH" ;;
esac
export HOME PATH
# Everything big lives outside the repo, in two places:
# - FRESNEL_CACHE, the state: what a run derives (kernel tree, build tree,
#   artifacts, apt lists, guest runs). Nothing in it is trusted to be there;
#   .ci/run empties it so that every unpack, configure and check runs.
# - FRESNEL_CONTENT, caches whose entries are named by their content and so
#   can never be stale: ccache, downloads stored under their sha256.
FRESNEL_CACHE=${FRESNEL_CACHE:-/var/cache/fresnel}
FRESNEL_CONTENT=${FRESNEL_CONTENT:-/var/cache/fresnel-content}
export REPO_ROOT FRESNEL_CACHE FRESNEL_CONTENT

step() { printf '==> [%(%H:%M:%S)T] %s\n' -1 "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# with_timeout SECONDS WHAT CMD...: run CMD, fail naming WHAT if it overruns.
with_timeout() {
	local secs=$1 what=$2 rc=0
	shift 2
	timeout --kill-after=30 "$secs" "$@" || rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		die "stage '$what' timed out after ${secs}s"
	elif [ "$rc" -ne 0 ]; then
		die "stage '$what' failed (exit $rc)"
	fi
}

# manifest_get TABLE KEY: print a scalar from manifest.toml. fresnel-tools is
# the one reader of the manifest (its schema and checks live there).
manifest_get() {
	"$REPO_ROOT/scripts/tools.sh" manifest get --manifest "$REPO_ROOT/manifest.toml" "$1" "$2"
}

# The userspace binaries the guest runs (userspace-tests/src/bin/).
# shellcheck disable=SC2034 # used by the scripts that source this file
SUITE_BINS=(fence-suite landing-map fence-bench fresnel-ontarget)

# Kernel make invocation shared by every kernel and module build. Debian's
# rustc-web (/usr/bin/rustc) ships the library source CONFIG_RUST needs; the
# rustup rustc in PATH does not.
# shellcheck disable=SC2034 # used by the scripts that source this file
KMAKE=(make LLVM=-19 RUSTC=/usr/bin/rustc "BINDGEN=$HOME/.cargo/bin/bindgen"
	"CC=ccache clang-19")
# bindgen (v4l2r's build script) uses the rig's libclang, the one the
# kernel builds use.
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
export CCACHE_DIR=${CCACHE_DIR:-$FRESNEL_CONTENT/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
# The trees live under the state directory, whose path may change between
# runs: hash paths relative to it, and not the working directory, so a new
# state directory still hits the cache.
export CCACHE_BASEDIR=$FRESNEL_CACHE CCACHE_NOHASHDIR=true
# cargo's Rust builds go through sccache once install-host-deps.sh has put
# it in the state directory (FRESNEL_SCCACHE=0: not at all). Its cache is
# named by content, like ccache's. The server listens on a socket in the
# state directory, so that runs of other state directories (and other
# users) keep theirs; it ends 5 minutes after its last compile, or with
# vm-test.sh.
if [ "${FRESNEL_SCCACHE:-1}" != 0 ] && [ -x "$FRESNEL_CACHE/host-tools/sccache" ]; then
	export RUSTC_WRAPPER=$FRESNEL_CACHE/host-tools/sccache
	export SCCACHE_SERVER_UDS=$FRESNEL_CACHE/host-tools/sccache.sock
	export SCCACHE_DIR=${SCCACHE_DIR:-$FRESNEL_CONTENT/sccache}
	export SCCACHE_CACHE_SIZE=${SCCACHE_CACHE_SIZE:-6G} SCCACHE_IDLE_TIMEOUT=${SCCACHE_IDLE_TIMEOUT:-300}
	# Paths relative to the state directory and the checkout, as ccache's.
	export SCCACHE_BASEDIRS=${SCCACHE_BASEDIRS:-$FRESNEL_CACHE:$REPO_ROOT}
fi

# fetch_verified WANT_SHA256 OUT_VAR CMD...: make sure the download whose
# sha256 is WANT_SHA256 is in the downloads cache (as sha256/<hex>), running
# CMD in an empty scratch directory (it must leave one file there) if it is
# not; set OUT_VAR to its path. Both a cached and a new file are verified;
# a mismatch is named and the file is not kept.
fetch_verified() {
	local want=$1 var=$2 dir got scratch file
	shift 2
	dir=$FRESNEL_CONTENT/downloads/sha256
	mkdir -p "$dir"
	if [ -f "$dir/$want" ] && ! echo "$want  $dir/$want" | sha256sum -c --quiet - >/dev/null 2>&1; then
		printf 'warning: %s is damaged (sha256 differs); downloading it again\n' "$dir/$want" >&2
		rm -f "$dir/$want"
	fi
	if [ ! -f "$dir/$want" ]; then
		scratch=$(mktemp -d "$dir/.partial.XXXXXX")
		if ! (cd "$scratch" && "$@"); then
			rm -rf "$scratch"
			return 1
		fi
		file=$(find "$scratch" -maxdepth 1 -type f | head -n1)
		[ -n "$file" ] || die "the download into $scratch produced no file"
		got=$(sha256sum "$file" | cut -d' ' -f1)
		if [ "$got" != "$want" ]; then
			rm -rf "$scratch"
			die "downloaded ${file##*/} has sha256 $got, expected $want; if the archive rebuilt it on purpose, update the pin"
		fi
		mv "$file" "$dir/$want"
		rm -rf "$scratch"
	fi
	printf -v "$var" '%s' "$dir/$want"
}

ci_base_version() { manifest_get ci_base version; }
kernel_dir() { printf '%s/kernel/%s\n' "$FRESNEL_CACHE" "$(ci_base_version)"; }
# The rig builds the suite against uapi headers installed from its kernel
# tree, once per base, into the state directory (Debian 12's /usr/include is
# too old for v4l2r): userspace-tests/build.sh's KERNEL_SRC and UAPI_OUT.
# suite_uapi_out [ARCH]: ARCH x86_64 (the default, the host's) or aarch64;
# each architecture's asm/ headers go to their own directory.
suite_uapi_out() {
	case "${1:-x86_64}" in
	x86_64) printf '%s/uapi-headers/%s\n' "$FRESNEL_CACHE" "$(ci_base_version)" ;;
	aarch64 | arm64) printf '%s/uapi-headers-arm64/%s\n' "$FRESNEL_CACHE" "$(ci_base_version)" ;;
	*) die "suite_uapi_out: unknown architecture '$1'" ;;
	esac
}

# private_apt_setup: define APT (apt-get/apt-cache options) for a private
# configuration that sees Debian sid and trixie-backports. The system's
# sources never name them, and nothing from them is ever installed: their
# packages are only downloaded and unpacked. Sets aptdir.
private_apt_setup() {
	aptdir=$FRESNEL_CACHE/apt
	mkdir -p "$aptdir"/{lists/partial,cache/archives/partial,etc} "$aptdir/debs"
	cat >"$aptdir/etc/sources.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
LIST
	touch "$aptdir/status"
	APT=(-o "Dir::Etc::SourceList=$aptdir/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent
		-o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
		-o "Dir::State::Status=$aptdir/status" -o Debug::NoLocking=1 -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
	private_apt_updated=${private_apt_updated:-0}
}

# private_apt_update: refresh the private lists once per process.
private_apt_update() {
	if [ "$private_apt_updated" = 0 ]; then
		step "apt-get update (private sid + trixie-backports lists)"
		with_timeout 600 "apt-get update (private)" apt-get "${APT[@]}" update -q
		private_apt_updated=1
	fi
}

# manifest_table TABLE: print "key=value" for every scalar of a table.
manifest_table() {
	"$REPO_ROOT/scripts/tools.sh" manifest table --manifest "$REPO_ROOT/manifest.toml" "$1"
}

# with_progress LOG CMD...: run CMD with its output in LOG and print a line
# a minute while it runs (minutes so far, LOG's last line); CMD's status.
with_progress() {
	local log=$1 start=$SECONDS ticker rc=0
	shift
	(
		while sleep 60; do
			printf '    ... %d min, %s\n' $(((SECONDS - start) / 60)) "$(tail -n1 "$log" 2>/dev/null | cut -c1-80)"
		done
	) &
	ticker=$!
	"$@" >"$log" 2>&1 || rc=$?
	kill "$ticker" 2>/dev/null || true
	return "$rc"
}

# timed NAME CMD...: run CMD and append "NAME SECONDS" to $FRESNEL_TIMINGS;
# CMD's exit status is timed's (also where a caller's `if` turns off set -e).
timed() {
	local name=$1 t0=$SECONDS rc=0
	shift
	"$@" || rc=$?
	printf '%-28s %5d s\n' "$name" $((SECONDS - t0)) >>"${FRESNEL_TIMINGS:-/dev/null}"
	return "$rc"
}

# host_check NAME CMD...: run a host-side check and record PASS/FAIL for
# the verdict in $FRESNEL_HOST_CHECKS (suite result lines), its time in
# $FRESNEL_TIMINGS; a failure shows the last 40 lines of its output.
host_check() {
	local name=$1 t0=$SECONDS log
	shift
	log=$(mktemp)
	step "host check: $name"
	if "$@" >"$log" 2>&1; then
		echo "PASS host/$name" >>"$FRESNEL_HOST_CHECKS"
	else
		tail -n 40 "$log"
		echo "FAIL host/$name: see the output above (exit status non-zero)" >>"$FRESNEL_HOST_CHECKS"
	fi
	rm -f "$log"
	printf '%-28s %5d s\n' "host: $name" $((SECONDS - t0)) >>"${FRESNEL_TIMINGS:-/dev/null}"
}

# guest_get KIND COLUMN: one column of guest KIND's row of vm/guests.list
# (arch, kernel, calls, port, limit); fails naming an unknown guest.
guest_get() {
	"$REPO_ROOT/scripts/rig.sh" guest --table "$REPO_ROOT/vm/guests.list" "$1" --get "$2"
}

# vm_config_fragments SRC KIND: the config fragments of the rig's x86_64 VM
# kernel of guest KIND, merged onto tinyconfig, one per line. A kernel with
# the series (any but the CI base's) also gets the options only the series
# defines (config/vm-x86_64-patched.config): on the control tree they do not
# exist, and the fragment check would reject them. A production guest's
# kernel drops the debug options (config/vm-x86_64-production.config).
vm_config_fragments() {
	local kernel config
	kernel=$(guest_get "$2" kernel) || die "vm_config_fragments: no guest '$2' in vm/guests.list"
	config=$(guest_get "$2" config)
	printf '%s\n' "$1/kernel/configs/kvm_guest.config" "$REPO_ROOT/config/vm-x86_64.config"
	[ "$kernel" = ci-base ] || printf '%s\n' "$REPO_ROOT/config/vm-x86_64-patched.config"
	[ "$config" != production ] || printf '%s\n' "$REPO_ROOT/config/vm-x86_64-production.config"
}

# kernel_make_arch ARCH: the kernel's ARCH= for x86_64 or arm64. x86_64 is
# ARCH=x86, what make picks on this host when no ARCH is given: ARCH=x86_64
# gives a different .config (no GENERIC_ISA_DMA, no VSYSCALL_EMULATION, ...).
kernel_make_arch() {
	case "$1" in x86_64) echo x86 ;; *) echo "$1" ;; esac
}

# kernel_config_key FRAGMENT...: what a configured build tree depends on, the
# fragments and the toolchain.
kernel_config_key() {
	local fragments toolchain
	fragments=$(cat "$@" | sha256sum | cut -c1-16)
	toolchain=$( (/usr/bin/rustc --version && clang-19 --version | head -1) | sha256sum | cut -c1-16)
	echo "$fragments-$toolchain"
}

# configure_kernel SRC OBJ ARCH FRAGMENT...: OBJ/.config becomes tinyconfig
# plus the FRAGMENTs for ARCH (x86_64 or arm64), and every line of the
# project's own fragments is checked after olddefconfig (the kernel's
# kernel/configs/*.config serve every architecture and are partly moot on
# one, so they are not). Skipped while OBJ was configured from the same
# fragments and toolchain.
configure_kernel() {
	local src=$1 obj=$2 arch=$3 key f
	shift 3
	key=$(kernel_config_key "$@")
	mkdir -p "$obj"
	[ "$(cat "$obj/.fresnel-config-key" 2>/dev/null)" != "$key" ] || return 0
	step "configuring $arch: tinyconfig + ${*##*/}"
	with_timeout 600 "$arch tinyconfig" "${KMAKE[@]}" ARCH="$(kernel_make_arch "$arch")" \
		-C "$src" O="$obj" tinyconfig >/dev/null
	with_timeout 600 "$arch merge config fragments" "$src/scripts/kconfig/merge_config.sh" \
		-m -O "$obj" "$obj/.config" "$@" >/dev/null
	with_timeout 600 "$arch olddefconfig" "${KMAKE[@]}" ARCH="$(kernel_make_arch "$arch")" \
		-C "$src" O="$obj" olddefconfig >/dev/null
	# Each project fragment is checked but for what a later one overrides.
	local later=() i
	for ((i = $# - 1; i >= 0; i--)); do
		f=${*:i+1:1}
		case "$f" in "$REPO_ROOT"/*)
			"$REPO_ROOT/scripts/tools.sh" kconfig check --arch "$arch" --fragment "$f" \
				--config "$obj/.config" "${later[@]}"
			later+=(--overridden-by "$f")
			;;
		esac
	done
	echo "$key" >"$obj/.fresnel-config-key"
}

# Applying patches means checking out 80k files into a worktree, so the
# commits made that way are remembered under a NAME (series/<key>,
# canary/<key>). recalled_commit SRC NAME prints the commit remembered under
# NAME if SRC still has it, and fails otherwise.
recalled_commit() {
	local memo
	memo=$(kernel_dir)/commits/$2
	[ -f "$memo" ] && git -C "$1" cat-file -e "$(cat "$memo")^{commit}" 2>/dev/null && cat "$memo"
}

# remember_commit SRC NAME COMMIT: keep COMMIT alive in SRC with a ref (its
# worktree is thrown away) and remember it under NAME; prints it.
remember_commit() {
	local memo
	memo=$(kernel_dir)/commits/$2
	mkdir -p "$(dirname "$memo")"
	git -C "$1" update-ref "refs/fresnel/$2" "$3"
	echo "$3" | tee "$memo"
}

# added_warnings WHAT BASE SERIES: judge two sorted warning lists (one per
# line, line numbers already dropped) of the base and the series: print
# both counts, and fail listing the lines the series adds.
added_warnings() {
	local what=$1 base=$2 series=$3 added
	added=$(comm -13 "$base" "$series")
	printf '%s: %d warning line(s) at the base, %d with the series\n' "$what" \
		"$(wc -l <"$base")" "$(wc -l <"$series")"
	if [ -n "$added" ]; then
		printf '%s\n' "$added"
		die "the series adds $(grep -c . <<<"$added") $what warning line(s) (above; line numbers dropped)"
	fi
	ok "the series adds no $what warning"
}

# manifest_included_patches: the included series, in order, relative to patches/.
manifest_included_patches() {
	"$REPO_ROOT/scripts/tools.sh" manifest series --manifest "$REPO_ROOT/manifest.toml"
}

# manifest_series_sums: "SHA256  PATH" of each included patch, in order.
manifest_series_sums() {
	"$REPO_ROOT/scripts/tools.sh" manifest series --sha256 --manifest "$REPO_ROOT/manifest.toml"
}

# ensure_build_user NAME: makepkg refuses root; as root, make sure the
# unprivileged system user NAME exists to run it (with runuser). Run as any
# other user, it does nothing: makepkg runs as that user.
ensure_build_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	id -u "$1" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"
}
