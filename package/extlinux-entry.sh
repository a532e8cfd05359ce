#!/bin/bash
# extlinux-entry.sh add|remove|default|undefault
#
# Manages one LABEL block for linux-fresnel-fourier in U-Boot's
# /boot/extlinux/extlinux.conf (PineBook Pro with mainline U-Boot). The
# working kernel's entry and the DEFAULT line are never edited by `add`, so
# the machine keeps booting what it booted before; pick the new entry from
# U-Boot's menu, or run `default` to make it the default (the previous
# DEFAULT is recorded and `undefault`/`remove` restore it).
#
# Safety rules, because a broken extlinux.conf is a PineBook Pro that does
# not boot: the whole file is checked before anything is written (one
# BEGIN/END pair in order, nothing but our LABEL inside it, a DEFAULT that
# names a LABEL, an APPEND to copy) and a problem stops the helper with the
# file untouched; every write keeps the previous file as
# extlinux.conf.fresnel-bak and replaces the file atomically after an fsync.
#
# Runs from a pacman hook on the device, where fresnel-tools is not
# installed: hence bash + awk, the tools every Arch system has.
set -euo pipefail

pkgbase=linux-fresnel-fourier
conf=${EXTLINUX_CONF:-/boot/extlinux/extlinux.conf}
share=${FRESNEL_SHARE:-/usr/share/$pkgbase}
# The directory holding the files the entry points at (Image, initramfs, dtbs).
bootdir=${EXTLINUX_BOOT_DIR:-/boot}
backup=$conf.fresnel-bak
# Constant text, whatever FRESNEL_SHARE is: a marker that depends on the
# install path would not be found again after a change of that path.
begin="# BEGIN $pkgbase (managed by /usr/share/$pkgbase/extlinux-entry.sh)"
end="# END $pkgbase"
saved="# $pkgbase previous DEFAULT:"

die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }

[ -f "$conf" ] || die "$conf not found: this helper only edits an existing extlinux.conf; add the entry by hand (see $share/README)"

# Shared by every awk pass: `line` is the current line without its CR (DOS
# files keep their CRs in the output), `kw` its lower-cased keyword, and
# rest() the text after the keyword, so labels with spaces stay whole.
# shellcheck disable=SC2016 # awk code, not shell
awk_lib='
function rest(s) { sub(/^[ \t]*[^ \t]+[ \t]*/, "", s); sub(/[ \t]+$/, "", s); return s }
function is_begin(l) { return index(l, "# BEGIN " pkg) == 1 && (length(l) == length("# BEGIN " pkg) || substr(l, length("# BEGIN " pkg) + 1, 1) == " ") }
{ line = $0; sub(/\r$/, "", line); kw = line; sub(/^[ \t]+/, "", kw); sub(/[ \t].*/, "", kw); kw = tolower(kw) }
'

# Reads the whole file and prints what the operations need as KEY<TAB>VALUE
# lines; a malformed file prints "error<TAB>why" and nothing else.
# Keys: default (the DEFAULT line, our block excluded), saved/hassaved (the
# DEFAULT recorded by `default`), append/linux (of the entry whose root= to
# copy), first (the first LABEL that is not ours), menu/timeout (1 if
# present).
inspect() {
	awk -v pkg="$pkgbase" -v saved="$saved" "$awk_lib"'
		is_begin(line) {
			if (inblock) { err = err sprintf("line %d: a second BEGIN marker before the END of the one at line %d; ", NR, bline) }
			else if (nb) { err = err sprintf("line %d: a second %s block (the first is at line %d); ", NR, pkg, bline) }
			nb++; inblock = 1; bline = NR; next
		}
		line == "# END " pkg {
			if (!inblock) err = err sprintf("line %d: END marker without a BEGIN before it; ", NR)
			inblock = 0; next
		}
		inblock {
			if (kw == "label" && rest(line) != pkg) err = err sprintf("line %d: LABEL \"%s\" inside our block (lines %d-): it is not ours, so the block cannot be replaced or removed safely; ", NR, rest(line), bline)
			if (kw == "append") block_append = rest(line)
			next
		}
		index(line, saved) == 1 { hassaved = 1; prev = substr(line, length(saved) + 1); sub(/^[ \t]+/, "", prev); sub(/[ \t]+$/, "", prev); next }
		kw == "default" && !havedef { def = rest(line); havedef = 1; next }
		kw == "label" { label = rest(line); known[label] = 1; if (first == "") first = label; next }
		kw == "menu" && label == "" { menu = 1 }
		kw == "timeout" { timeout = 1 }
		kw == "append" && label != "" { app[label] = rest(line) }
		(kw == "linux" || kw == "kernel") && label != "" { lin[label] = rest(line) }
		END {
			if (inblock) err = err sprintf("line %d: BEGIN marker without its END (\"# END %s\"); ", bline, pkg)
			if (err != "") { sub(/; $/, "", err); print "error\t" err; exit }
			# The entry that boots today: DEFAULT; when DEFAULT is ours
			# (after `default`), the one it replaced; else the first LABEL.
			# A recorded DEFAULT whose LABEL is gone falls back to our
			# block: the root= it copied last time.
			src = havedef ? def : first
			if (src == pkg) { src = prev; fromprev = 1 }
			if (src != "" && !(src in known)) {
				if (!fromprev) { print "error\tDEFAULT \"" src "\" names no LABEL in the file"; exit }
				src = ""
			}
			print "default\t" def
			print "saved\t" prev
			print "hassaved\t" hassaved + 0
			print "first\t" first
			print "append\t" ((src in app) ? app[src] : (def == pkg ? block_append : ""))
			print "linux\t" ((src in lin) ? lin[src] : lin[first])
			print "menu\t" menu + 0
			print "timeout\t" timeout + 0
		}' "$conf"
}

declare -A info
load_info() {
	local k v
	while IFS=$'\t' read -r k v; do
		info[$k]=$v
	done < <(inspect)
	[ -n "${info[error]:-}" ] || [ -n "${info[menu]:-}" ] || die "cannot read $conf; nothing changed"
	[ -z "${info[error]:-}" ] || die "$conf is malformed, nothing changed: ${info[error]}. Fix the file by hand (the last version this helper wrote is $backup, if it exists)"
}

# Everything but our block (the file is known to be well-formed).
without_block() {
	awk -v pkg="$pkgbase" "$awk_lib"'
		is_begin(line) { skip = 1; next }
		skip && line == "# END " pkg { skip = 0; next }
		!skip' "$1"
}

# extlinux paths are relative to the partition holding extlinux.conf: take
# the prefix the working entry uses for its kernel.
boot_prefix() {
	if [ -n "${EXTLINUX_BOOT_PREFIX+x}" ]; then
		printf '%s' "$EXTLINUX_BOOT_PREFIX"
	elif [ -n "${info[linux]}" ]; then
		case ${info[linux]} in /boot/*) printf '/boot' ;; *) printf '' ;; esac
	elif mountpoint -q /boot 2>/dev/null; then
		printf ''
	else
		printf '/boot'
	fi
}

tmp=
cleanup() { [ -z "$tmp" ] || rm -f "$tmp" "$tmp.default"; }
trap cleanup EXIT

# new_conf: a temp file beside $conf for the new content.
new_conf() { tmp=$(mktemp "$conf.XXXXXX"); }

# commit_conf MESSAGE: replace $conf by $tmp (if they differ), keeping the
# old file as the backup. fsync before the rename and of the directory after
# it: /boot is often vfat on a laptop that can lose power.
commit_conf() {
	if cmp -s "$tmp" "$conf"; then
		echo "extlinux: $conf unchanged"
		return 0
	fi
	chmod --reference="$conf" "$tmp"
	cp -p "$conf" "$backup"
	sync "$backup" "$tmp"
	mv "$tmp" "$conf"
	tmp=
	sync "$(dirname "$conf")"
	echo "$1 (previous file: $backup)"
}

# U-Boot shows a menu only for a top-level MENU line, and waits only with a
# TIMEOUT (it ignores PROMPT).
menu_ok() { [ "${info[menu]}" = 1 ] && [ "${info[timeout]}" = 1 ]; }

add() {
	local kver prefix f
	kver=$(cat "$share/kernelrelease")
	[ -n "${info[append]}" ] || die "no APPEND line in the entry that boots today (DEFAULT '${info[default]:-${info[first]}}') of $conf: cannot tell which root= to use; nothing changed"
	for f in "Image-$pkgbase" "initramfs-$pkgbase.img" "dtbs-$pkgbase/rockchip/rk3399-pinebook-pro.dtb"; do
		[ -e "$bootdir/$f" ] || die "$bootdir/$f is missing (did mkinitcpio fail, or is /boot not mounted?): not pointing an entry at it; nothing changed"
	done
	menu_ok ||
		warn "$conf has no top-level MENU line or no TIMEOUT: U-Boot shows no menu, so the new entry cannot be picked at boot (add e.g. 'MENU TITLE Boot' and 'TIMEOUT 50')"
	prefix=$(boot_prefix)
	new_conf
	{
		without_block "$conf"
		printf '%s\n' "$begin"
		printf 'LABEL %s\n' "$pkgbase"
		printf '    MENU LABEL Linux %s (fresnel-fourier: vb2 producer fences)\n' "$kver"
		printf '    LINUX %s/Image-%s\n' "$prefix" "$pkgbase"
		printf '    INITRD %s/initramfs-%s.img\n' "$prefix" "$pkgbase"
		printf '    FDT %s/dtbs-%s/rockchip/rk3399-pinebook-pro.dtb\n' "$prefix" "$pkgbase"
		printf '    APPEND %s\n' "${info[append]}"
		printf '%s\n' "$end"
	} >"$tmp"
	commit_conf "extlinux: entry '$pkgbase' for $kver written to $conf; DEFAULT unchanged"
}

set_default() {
	[ "${info[default]}" != "$pkgbase" ] || { echo "extlinux: DEFAULT is already $pkgbase"; return 0; }
	grep -q "^# BEGIN $pkgbase" "$conf" || die "$conf has no $pkgbase entry to make the default (reinstall the package to add it); nothing changed"
	menu_ok ||
		die "$conf has no top-level MENU line or no TIMEOUT: U-Boot would boot $pkgbase with no menu to fall back from; add e.g. 'MENU TITLE Boot' and 'TIMEOUT 50' first; nothing changed"
	new_conf
	# No DEFAULT yet: the new one goes first, with the top-level settings.
	awk -v pkg="$pkgbase" -v s="$saved" -v prev="${info[default]}" -v none="${info[default]:+0}" "$awk_lib"'
		NR == 1 && none == "" { print s; print "DEFAULT " pkg; done = 1 }
		kw == "default" && !done { print s " " prev; print "DEFAULT " pkg; done = 1; next }
		{ print }' "$conf" >"$tmp"
	commit_conf "extlinux: DEFAULT is now $pkgbase (was '${info[default]:-none}'; 'undefault' restores it)"
}

# restore_default FILE: the DEFAULT before `default` (none if there was
# none), or, when DEFAULT is ours but nothing was recorded (set by hand), the
# first other LABEL: never a DEFAULT that names a removed entry.
restore_default() {
	local want=${info[saved]}
	[ "${info[hassaved]}" = 1 ] || want=${info[first]}
	awk -v pkg="$pkgbase" -v s="$saved" -v want="$want" "$awk_lib"'
		index(line, s) == 1 { next }
		kw == "default" && !done {
			done = 1
			if (rest(line) != pkg) { print; next }
			if (want != "") print "DEFAULT " want
			next
		}
		{ print }' "$1"
}

unset_default() {
	new_conf
	restore_default "$conf" >"$tmp"
	commit_conf "extlinux: DEFAULT restored"
}

remove() {
	if ! grep -q "^# BEGIN $pkgbase" "$conf" && [ "${info[default]}" != "$pkgbase" ]; then
		echo "extlinux: no $pkgbase entry in $conf; nothing to remove"
		return 0
	fi
	new_conf
	restore_default "$conf" >"$tmp.default"
	without_block "$tmp.default" >"$tmp"
	rm -f "$tmp.default"
	commit_conf "extlinux: entry '$pkgbase' removed from $conf"
}

case "${1:-}" in
add | remove | default | undefault) load_info ;;
*) die "usage: ${0##*/} add|remove|default|undefault" ;;
esac
case $1 in
add) add ;;
remove) remove ;;
default) set_default ;;
undefault) unset_default ;;
esac
