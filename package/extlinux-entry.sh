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
# BEGIN/END pair in order, nothing but our LABEL's own lines inside it, a
# default entry that names a LABEL, an APPEND to copy) and a problem stops
# the helper with the file untouched; every write keeps the previous file as
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
# The line ending of the lines this helper writes: CRLF in a CRLF file (see
# inspect), because U-Boot keeps a CR as part of a label name.
eol=

die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }

[ -f "$conf" ] || die "$conf not found: this helper only edits an existing extlinux.conf; add the entry by hand (see README.md in the $pkgbase sources, section 'On the PineBook Pro', which also covers boot.scr setups)"
# A symlinked extlinux.conf stays a link: the new content replaces the file
# it points at (the rename must happen in that file's directory). The backup
# stays beside the name we were given, $backup, the one path every message,
# the .install and the README can name without resolving the link.
real=$(readlink -f -- "$conf")

# Shared by every awk pass: `line` is the current line without its CR, `kw`
# its lower-cased keyword, and rest() the text after the keyword, so labels
# with spaces stay whole. Values reach awk through ENVIRON only (run_awk):
# `awk -v` processes backslash escapes, which turned a LABEL "arch\test"
# into "arch<TAB>est".
# shellcheck disable=SC2016 # awk code, not shell
awk_lib='
BEGIN { pkg = ENVIRON["pkg"]; saved = ENVIRON["saved"]; eol = ENVIRON["eol"] }
function rest(s) { sub(/^[ \t]*[^ \t]+[ \t]*/, "", s); sub(/[ \t]+$/, "", s); return s }
function is_begin(l) { return index(l, "# BEGIN " pkg) == 1 && (length(l) == length("# BEGIN " pkg) || substr(l, length("# BEGIN " pkg) + 1, 1) == " ") }
function is_default(k) { return k == "default" || k == "ontimeout" }
{ line = $0; sub(/\r$/, "", line); kw = line; sub(/^[ \t]+/, "", kw); sub(/[ \t].*/, "", kw); kw = tolower(kw) }
'
# run_awk PROGRAM FILE, with any other values as VAR=value before the call.
run_awk() { pkg=$pkgbase saved=$saved eol=$eol awk "$awk_lib$1" "$2"; }

# Reads the whole file and prints what the operations need as KEY<TAB>VALUE
# lines; a malformed file prints "error<TAB>why" and nothing else.
#
# Which entry U-Boot boots, as boot/pxe_utils.c (u-boot master, 2026) reads
# the file: parse_pxefile_top() lets every top-level DEFAULT or ONTIMEOUT
# line replace default_label (the last one wins; a DEFAULT indented under a
# LABEL is top-level too, as parse_label() hands back any keyword that is not
# one of its own); parse_label_menu() takes MENU DEFAULT inside a LABEL only
# while default_label is unset, so it counts only when the file has no
# DEFAULT/ONTIMEOUT line at all; a default naming no LABEL is "Missing
# default", and handle_pxe_menu() then boots the labels in file order
# (boot_unattempted_labels()). Label names run to the end of the line, CR
# included (get_string() stops at '\n' only). The menu: a top-level MENU
# line sets prompt = 1 and, since v2023.04 (739e8361f3f), PROMPT n sets
# prompt = n, the later line winning; older U-Boot ignores PROMPT. With
# prompt 0 menu_get_choice() (common/menu.c) boots the default without
# showing the menu; TIMEOUT only limits how long a shown menu waits (none:
# it waits for a choice).
#
# Keys: eff/effline/effkw (the default entry U-Boot uses, its line and
# keyword; empty: none, the labels are tried in order), ndef/deflines (the
# DEFAULT/ONTIMEOUT lines), nours (those naming us), saved/hassaved (the
# DEFAULT recorded by `default`), src/append/linux (the entry whose root= to
# copy), restore/restoreline/restorewhy/other/after/labels (what `undefault`
# and `remove` put in place of our DEFAULT, and what U-Boot uses then), menu (1: U-Boot shows its menu, old
# and new U-Boot alike), promptline (the PROMPT 0 that hides it), timeout (1:
# the menu times out to the default), block (1: our BEGIN/END block is
# there), ourlabel (1: our LABEL is in it), eol.
inspect() {
	run_awk '
		BEGIN { q = sprintf("%c", 39); n = split("menu kernel linux append initrd fdt devicetree fdtdir devicetreedir fdtoverlays devicetree-overlay localboot ipappend kaslrseed", a, " "); for (i = 1; i <= n; i++) labelkw[a[i]] = 1 }
		is_begin(line) {
			if (inblock) { err = err sprintf("line %d: a second BEGIN marker before the END of the one at line %d; ", NR, bline) }
			else if (nb) { err = err sprintf("line %d: a second %s block (the first is at line %d); ", NR, pkg, bline) }
			nb++; inblock = 1; bline = NR; next
		}
		line == "# END " pkg {
			if (!inblock) err = err sprintf("line %d: END marker without a BEGIN before it; ", NR)
			inblock = 0; next
		}
		# Only our own LABEL lines: anything else would be lost when the
		# block is rewritten or removed.
		inblock {
			w = line; sub(/^[ \t]*[^ \t]+[ \t]*/, "", w); sub(/[ \t].*/, "", w)
			if (kw == "label") {
				if (rest(line) != pkg) err = err sprintf("line %d: LABEL \"%s\" inside our block (lines %d-): it is not ours, so the block cannot be replaced or removed safely; ", NR, rest(line), bline)
				else ourlabel = 1
				label = pkg; inlabel = 1
			} else if (kw == "append") block_append = rest(line)
			else if (!(kw == "" || kw ~ /^#/ || kw == "linux" || kw == "kernel" || kw == "initrd" || kw == "fdt" || kw == "devicetree" || (kw == "menu" && tolower(w) == "label"))) {
				k = line; sub(/^[ \t]+/, "", k); sub(/[ \t].*/, "", k)
				err = err sprintf("line %d: \"%s\" inside our block (BEGIN at line %d): only the lines of our own LABEL belong there, and the block is rewritten by every add and dropped by remove; move that line above the BEGIN marker; ", NR, kw == "menu" ? k " " w : k, bline)
			}
			next
		}
		{ ncr += ($0 ~ /\r$/); nlines++ }
		index(line, saved) == 1 { hassaved = 1; prev = substr(line, length(saved) + 1); sub(/^[ \t]+/, "", prev); sub(/[ \t]+$/, "", prev); next }
		inlabel && !(kw == "" || kw ~ /^#/ || kw in labelkw) { inlabel = 0 }
		kw == "label" { label = rest(line); if (!(label in known)) order = order (nl++ ? ", " : "") q label q; known[label] = 1; if (first == "") first = label; inlabel = 1; next }
		is_default(kw) {
			ndef++; def = rest(line); defline = NR; defkw = toupper(kw)
			deflines = deflines (ndef > 1 ? ", " : "") NR
			if (def == pkg) { nours++; lastours = NR } else { other = def; otherline = NR }
			next
		}
		kw == "menu" && !inlabel { hasmenu = 1; prompt = 1; promptline = 0 }
		kw == "menu" && inlabel && menudef == "" { w = tolower(rest(line)); sub(/[ \t].*/, "", w); if (w == "default") { menudef = label; menudefline = NR } }
		kw == "prompt" && (rest(line) != "" || $0 ~ /\r$/) { r = rest(line); prompt = match(r, /^[+-]?[0-9]+/) && substr(r, 1, RLENGTH) + 0 != 0; promptline = prompt ? 0 : NR }
		kw == "timeout" && rest(line) != "" { r = rest(line); timeout = match(r, /^[+-]?[0-9]+/) && substr(r, 1, RLENGTH) + 0 > 0 }
		inlabel && kw == "append" { app[label] = rest(line) }
		inlabel && (kw == "linux" || kw == "kernel") { lin[label] = rest(line) }
		END {
			if (inblock) err = err sprintf("line %d: BEGIN marker without its END (\"# END %s\"); ", bline, pkg)
			if (err != "") { sub(/; $/, "", err); print "error\t" err; exit }
			if (ndef) { eff = def; effline = defline; effkw = defkw }
			else if (menudef != "") { eff = menudef; effline = menudefline; effkw = "MENU DEFAULT" }
			if (eff != "" && eff != pkg && !(eff in known)) { printf "error\tline %d: %s \"%s\" names no LABEL in the file\n", effline, effkw, eff; exit }
			# The entry that boots today: the default; when it is ours
			# (after `default`), the one it replaced; else the first
			# LABEL. A recorded DEFAULT whose LABEL is gone falls back to
			# our block: the root= it copied last time.
			src = eff != "" ? eff : first
			if (src == pkg) { src = (prev in known) ? prev : "" }
			# What `undefault`/`remove` put in place of our DEFAULT: the
			# recorded one if its LABEL exists, the only other LABEL if
			# nothing was recorded; else no DEFAULT line of ours, and U-Boot
			# uses an earlier DEFAULT line, a MENU DEFAULT or the labels in
			# order, with a warning when that choice is a guess.
			if (eff == pkg) {
				if (hassaved && prev != "" && (prev in known)) restore = prev
				else if (!hassaved && other == "" && menudef == "" && nl == 1) restore = first
				if (restore == "" && other != "") { if (!(other in known)) why = "dangling" }
				else if (restore == "" && menudef == "") { if (hassaved && prev != "") why = "gone"; else if (!hassaved && nl > 1) why = "handset" }
				if (restore == "") after = other != "" ? "DEFAULT " q other q : (menudef != "" ? "MENU DEFAULT " q menudef q : "no default: the labels in file order")
			}
			print "eff\t" eff
			print "effline\t" effline
			print "effkw\t" effkw
			print "ndef\t" ndef + 0
			print "deflines\t" deflines
			print "nours\t" nours + 0
			print "saved\t" prev
			print "hassaved\t" hassaved + 0
			print "src\t" src
			print "append\t" ((src in app) ? app[src] : (eff == pkg ? block_append : ""))
			print "linux\t" ((src in lin) ? lin[src] : lin[first])
			print "restore\t" restore
			print "restoreline\t" (eff == pkg ? lastours : 0)
			print "restorewhy\t" why
			print "other\t" other
			print "after\t" after
			print "labels\t" order
			print "menu\t" (hasmenu && prompt ? 1 : 0)
			print "promptline\t" (hasmenu ? promptline : 0)
			print "timeout\t" timeout + 0
			print "block\t" (nb ? 1 : 0)
			print "ourlabel\t" ourlabel + 0
			print "eol\t" (ncr * 2 > nlines ? "crlf" : "lf")
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
	[ "${info[eol]}" = lf ] || eol=$'\r'
}

# Everything but our block (the file is known to be well-formed). Our own
# lines outside it (the DEFAULT naming our LABEL, the recorded DEFAULT) get
# the file's line ending, as the block does: an old version of this helper
# wrote them LF-only into CRLF files, and U-Boot matches DEFAULT to LABEL
# CR included.
without_block() {
	run_awk '
		is_begin(line) { skip = 1; next }
		skip && line == "# END " pkg { skip = 0; next }
		skip { next }
		(is_default(kw) && rest(line) == pkg) || index(line, saved) == 1 { print line eol; next }
		{ print }' "$1"
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

# new_conf: a temp file beside the real file for the new content.
new_conf() { tmp=$(mktemp "$real.XXXXXX"); }

# commit_conf MESSAGE: replace $conf by $tmp (if they differ), keeping the
# old file as the backup. fsync before the rename and of the directory after
# it: /boot is often vfat on a laptop that can lose power.
commit_conf() {
	if cmp -s "$tmp" "$real"; then
		echo "extlinux: $conf unchanged"
		return 0
	fi
	chmod --reference="$real" "$tmp"
	cp -p "$real" "$backup"
	sync "$backup" "$tmp"
	mv "$tmp" "$real"
	tmp=
	sync "$(dirname "$real")"
	echo "$1"
}

# U-Boot shows its menu (see inspect) only for prompt != 0: a top-level MENU
# line is needed for U-Boot before v2023.04, and no PROMPT 0 after it for
# the newer ones.
menu_ok() { [ "${info[menu]}" = 1 ]; }
no_menu() {
	if [ "${info[promptline]}" != 0 ]; then
		printf "%s: line %s, 'PROMPT 0' after the MENU lines, hides U-Boot's menu (U-Boot v2023.04 and later)" "$conf" "${info[promptline]}"
	else
		printf "%s has no top-level MENU line: U-Boot shows no menu" "$conf"
	fi
}
menu_fix="add e.g. 'MENU TITLE Boot' and 'TIMEOUT 50' near the top and delete any 'PROMPT 0'"

# boot_files_present WHY: the files our entry points at must exist before
# an entry or a DEFAULT sends U-Boot to them; WHY says what is refused.
boot_files_present() {
	local f
	for f in "Image-$pkgbase" "initramfs-$pkgbase.img" "dtbs-$pkgbase/rockchip/rk3399-pinebook-pro.dtb"; do
		[ -e "$bootdir/$f" ] || die "$bootdir/$f is missing (did mkinitcpio fail, or is /boot not mounted?): $1; nothing changed"
	done
}

add() {
	local kver prefix
	kver=$(cat "$share/kernelrelease")
	[ "${info[eff]}" != "$pkgbase" ] || [ -n "${info[append]}" ] || die "DEFAULT of $conf is $pkgbase, but its entry is gone and nothing records the entry it replaced: cannot tell which root= to use; add 'DEFAULT <label>' naming the entry that boots today; nothing changed"
	[ -n "${info[append]}" ] || die "no APPEND line in the entry that boots today ('${info[src]}') of $conf: cannot tell which root= to use; nothing changed"
	boot_files_present "not pointing an entry at it"
	menu_ok ||
		warn "$(no_menu), so the new entry cannot be picked at boot ($menu_fix)"
	prefix=$(boot_prefix)
	new_conf
	{
		without_block "$conf"
		printf '%s%s\n' "$begin" "$eol"
		printf 'LABEL %s%s\n' "$pkgbase" "$eol"
		printf '    MENU LABEL Linux %s (fresnel-fourier: vb2 producer fences)%s\n' "$kver" "$eol"
		printf '    LINUX %s/Image-%s%s\n' "$prefix" "$pkgbase" "$eol"
		printf '    INITRD %s/initramfs-%s.img%s\n' "$prefix" "$pkgbase" "$eol"
		printf '    FDT %s/dtbs-%s/rockchip/rk3399-pinebook-pro.dtb%s\n' "$prefix" "$pkgbase" "$eol"
		printf '    APPEND %s%s\n' "${info[append]}" "$eol"
		printf '%s%s\n' "$end" "$eol"
	} >"$tmp"
	commit_conf "extlinux: entry '$pkgbase' for $kver written to $conf; DEFAULT unchanged (previous file: $backup)"
}

set_default() {
	local was=none
	[ -z "${info[eff]}" ] || was="'${info[eff]}'"
	[ "${info[eff]}" != "$pkgbase" ] || { echo "extlinux: DEFAULT is already $pkgbase"; return 0; }
	[ "${info[ndef]}" -le 1 ] ||
		die "$conf has ${info[ndef]} lines that set U-Boot's default entry (DEFAULT/ONTIMEOUT at lines ${info[deflines]}; U-Boot uses the last one, line ${info[effline]}: '${info[eff]}'): delete all but one of them, then run 'default' again; nothing changed"
	[ "${info[block]}" = 1 ] || die "$conf has no $pkgbase entry to make the default (reinstall the package to add it); nothing changed"
	# An empty block (the LABEL deleted by hand) would get a DEFAULT that
	# names no LABEL.
	[ "${info[ourlabel]}" = 1 ] ||
		die "the $pkgbase block of $conf has no 'LABEL $pkgbase' line, so DEFAULT $pkgbase would name no entry (reinstall the package to write the entry again); nothing changed"
	boot_files_present "not making $pkgbase the default (reinstall the package once /boot is mounted, then run 'default' again)"
	menu_ok ||
		die "$(no_menu), so it would boot $pkgbase with nothing to fall back from; $menu_fix first; nothing changed"
	[ "${info[timeout]}" = 1 ] ||
		warn "$conf has no TIMEOUT: U-Boot's menu waits until an entry is picked and never boots the default by itself (add e.g. 'TIMEOUT 50')"
	[ "${info[effkw]}" != "MENU DEFAULT" ] || was+=" by MENU DEFAULT"
	new_conf
	# The one DEFAULT/ONTIMEOUT line is replaced in place; with none, the new
	# DEFAULT goes first, with the top-level settings (it also overrides a
	# MENU DEFAULT, which `undefault` then brings back). That insert comes
	# before the rule dropping old record lines, which may be line 1.
	ndef=${info[ndef]} run_awk '
		BEGIN { ndef = ENVIRON["ndef"] + 0 }
		NR == 1 && ndef == 0 { print saved eol; print "DEFAULT " pkg eol }
		index(line, saved) == 1 { next }
		is_default(kw) { print saved " " rest(line) eol; print "DEFAULT " pkg eol; next }
		{ print }' "$conf" >"$tmp"
	commit_conf "extlinux: DEFAULT is now $pkgbase (was $was; 'undefault' restores it; previous file: $backup)"
}

# restore_default FILE: every DEFAULT line naming us goes; the one U-Boot
# used is replaced by the restore target inspect chose (none: no line).
restore_default() {
	local why='' fix="add a line 'DEFAULT <label>' with one of these labels to $conf"
	want=${info[restore]} at=${info[restoreline]} run_awk '
		BEGIN { want = ENVIRON["want"]; at = ENVIRON["at"] + 0 }
		index(line, saved) == 1 { next }
		is_default(kw) && rest(line) == pkg { if (NR == at && want != "") print "DEFAULT " want eol; next }
		{ print }' "$1"
	case ${info[restorewhy]} in
	gone) why="the DEFAULT recorded by 'default', '${info[saved]}', names no LABEL any more, so $conf is left without a DEFAULT line" ;;
	handset) why="DEFAULT $pkgbase was set by hand, with no record of the DEFAULT before it, so $conf is left without a DEFAULT line" ;;
	dangling)
		why="once ours is gone U-Boot uses the line 'DEFAULT ${info[other]}' of $conf, which names no LABEL"
		fix="change that line to 'DEFAULT <label>' with one of these labels"
		;;
	esac
	[ -z "$why" ] ||
		warn "$why: U-Boot boots the first entry that works, in file order: ${info[labels]}. To choose one, $fix"
}

restored() {
	if [ -n "${info[restore]}" ]; then
		printf "DEFAULT is '%s' again" "${info[restore]}"
	elif [ "${info[eff]}" = "$pkgbase" ]; then
		printf 'our DEFAULT line is gone, U-Boot now uses %s' "${info[after]}"
	else
		printf 'DEFAULT unchanged'
	fi
}

unset_default() {
	new_conf
	restore_default "$conf" >"$tmp"
	commit_conf "extlinux: $(restored) (previous file: $backup)"
}

remove() {
	if [ "${info[block]}" = 0 ] && [ "${info[nours]}" = 0 ]; then
		echo "extlinux: no $pkgbase entry in $conf; nothing to remove"
		return 0
	fi
	new_conf
	restore_default "$conf" >"$tmp.default"
	without_block "$tmp.default" >"$tmp"
	rm -f "$tmp.default"
	# The backup outlives the package on purpose: it is the file that booted
	# before this removal, the one to restore if the next boot fails.
	commit_conf "extlinux: entry '$pkgbase' removed from $conf; $(restored). The previous file stays as $backup (pacman -R leaves it; delete it once the machine has booted)"
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
