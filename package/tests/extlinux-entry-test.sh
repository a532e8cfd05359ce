#!/usr/bin/env bash
# extlinux-entry-test.sh: package/extlinux-entry.sh on the fixture files of
# package/tests/extlinux/<case>/:
#   extlinux.conf   the file before
#   steps           one operation per line (add, remove, default, undefault);
#                   "OP fails: TEXT" means OP must fail, print TEXT and change
#                   nothing; "OP prints: TEXT" means OP must succeed and
#                   print TEXT (if not, the steps go on, so that the final
#                   diff still shows)
#   expected.conf   the file after the last step (absent: unchanged)
#   env             optional KEY=VALUE lines for the helper; MISSING=FILE
#                   leaves FILE out of the fake /boot; SYMLINK=PATH puts the
#                   file at PATH (relative) and makes extlinux.conf a
#                   symlink to it, which every step must leave a symlink
# Every step that changes the file must leave the previous version as
# extlinux.conf.fresnel-bak, and no step may leave a temp file behind.
# EXTLINUX_ENTRY=path runs another version of the helper (e.g. an old one);
# CHECK_BACKUP=0 skips the backup rule, to see an old helper's other faults.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
helper=${EXTLINUX_ENTRY:-$here/../extlinux-entry.sh}
pkgbase=linux-fresnel-fourier
passed=0 failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/extlinux-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# run_case DIR: prints nothing and returns 0, or prints why it failed.
run_case() {
	local dir=$1 t=$work/${1##*/} conf before op expect print out rc f missing='' link='' unsaid=''
	local -a envs=()
	mkdir -p "$t/share" "$t/boot/dtbs-$pkgbase/rockchip"
	conf=$t/extlinux.conf
	cp "$dir/extlinux.conf" "$conf"
	echo "7.0.0-3-fresnel-fourier" >"$t/share/kernelrelease"
	if [ -f "$dir/env" ]; then
		while IFS= read -r f; do
			case $f in
			MISSING=*) missing=${f#MISSING=} ;;
			SYMLINK=*) link=${f#SYMLINK=} ;;
			?*) envs+=("$f") ;;
			esac
		done <"$dir/env"
	fi
	if [ -n "$link" ]; then
		mkdir -p "$(dirname "$t/$link")"
		mv "$conf" "$t/$link"
		ln -s "$link" "$conf"
	fi
	for f in "Image-$pkgbase" "initramfs-$pkgbase.img" "dtbs-$pkgbase/rockchip/rk3399-pinebook-pro.dtb"; do
		[ "$f" = "$missing" ] || : >"$t/boot/$f"
	done
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		op=${line%% *} expect='' print=''
		case $line in
		*" fails: "*) expect=${line#* fails: } ;;
		*" prints: "*) print=${line#* prints: } ;;
		esac
		before=$(cat "$conf"; echo x)
		[ ! -f "$conf.fresnel-bak" ] || cp "$conf.fresnel-bak" "$t/bak-before"
		rc=0
		out=$(env EXTLINUX_CONF="$conf" FRESNEL_SHARE="$t/share" EXTLINUX_BOOT_DIR="$t/boot" \
			"${envs[@]}" bash "$helper" "$op" 2>&1) || rc=$?
		if [ -n "$expect" ]; then
			[ "$rc" -ne 0 ] || { echo "'$op' succeeded, expected it to fail with: $expect"; echo "$out"; return 1; }
			[[ $out == *"$expect"* ]] || { echo "'$op' failed without saying: $expect"; echo "$out"; return 1; }
			[ "$(cat "$conf"; echo x)" = "$before" ] || { echo "failed '$op' changed the file"; return 1; }
			if [ -f "$t/bak-before" ]; then cmp -s "$t/bak-before" "$conf.fresnel-bak"; else [ ! -e "$conf.fresnel-bak" ]; fi ||
				{ echo "failed '$op' touched the backup"; return 1; }
		else
			[ "$rc" -eq 0 ] || { echo "'$op' failed (exit $rc):"; echo "$out"; return 1; }
			[[ $out == *"$print"* ]] || { echo "'$op' did not say: $print"; echo "$out"; unsaid=1; }
			if [ "${CHECK_BACKUP:-1}" = 1 ] && [ "$(cat "$conf"; echo x)" != "$before" ] &&
				[ "$(cat "$conf.fresnel-bak" 2>/dev/null; echo x)" != "$before" ]; then
				echo "'$op' changed the file without keeping the previous one as extlinux.conf.fresnel-bak"
				return 1
			fi
		fi
		rm -f "$t/bak-before"
		[ -z "$link" ] || [ -L "$conf" ] || { echo "'$op' replaced the symlink extlinux.conf by a regular file"; return 1; }
		for f in "$conf".* ${link:+"$t/$link".*}; do
			[ ! -e "$f" ] || [ "$f" = "$conf.fresnel-bak" ] || { echo "'$op' left $f behind"; return 1; }
		done
	done <"$dir/steps"
	f=$dir/expected.conf
	[ -f "$f" ] || f=$dir/extlinux.conf
	diff -u --label expected --label got "$f" "$conf" || return 1
	[ -z "$unsaid" ]
}

for dir in "$here"/extlinux/*/; do
	dir=${dir%/}
	if msg=$(run_case "$dir"); then
		passed=$((passed + 1))
		echo "ok   ${dir##*/}"
	else
		failed=$((failed + 1))
		echo "FAIL ${dir##*/}"
		awk '{ print "     " $0 }' <<<"$msg"
	fi
done
echo "extlinux-entry: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
