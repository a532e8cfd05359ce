#!/bin/bash
# extlinux-entry.sh add|remove|default|undefault
#
# Manages one LABEL block for linux-fresnel-fourier in U-Boot's
# /boot/extlinux/extlinux.conf (PineBook Pro with mainline U-Boot). The
# working kernel's entry and the DEFAULT line are never edited by `add`, so
# the machine keeps booting what it booted before; pick the new entry from
# U-Boot's menu, or run `default` to make it the default (the previous
# DEFAULT is recorded and `undefault`/`remove` restore it).
set -euo pipefail

pkgbase=linux-fresnel-fourier
conf=${EXTLINUX_CONF:-/boot/extlinux/extlinux.conf}
share=${FRESNEL_SHARE:-/usr/share/$pkgbase}
begin="# BEGIN $pkgbase (managed by $share/extlinux-entry.sh)"
end="# END $pkgbase"
saved="# $pkgbase previous DEFAULT:"

die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

[ -f "$conf" ] || die "$conf not found: this helper only edits an existing extlinux.conf; add the entry by hand (see $share/README)"

# extlinux paths are relative to the partition holding extlinux.conf.
boot_prefix() {
	if [ -n "${EXTLINUX_BOOT_PREFIX+x}" ]; then
		printf '%s' "$EXTLINUX_BOOT_PREFIX"
	elif mountpoint -q /boot 2>/dev/null; then
		printf ''
	else
		printf '/boot'
	fi
}

# Everything but our block.
without_block() {
	awk -v b="$begin" -v e="$end" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$conf"
}

# The APPEND line (kernel command line) of the DEFAULT entry, or of the
# first entry if there is no DEFAULT: the root= that boots today.
current_append() {
	without_block | awk '
		tolower($1) == "default" && !def { def = $2 }
		tolower($1) == "label" { label = $2; if (!first) first = $2 }
		tolower($1) == "append" { $1 = ""; sub(/^ +/, ""); app[label] = $0 }
		END { l = def ? def : first; if (l in app) print app[l] }'
}

write_conf() {
	local tmp
	tmp=$(mktemp "$conf.XXXXXX")
	cat >"$tmp"
	chmod --reference="$conf" "$tmp"
	mv "$tmp" "$conf"
}

add() {
	local kver prefix append
	kver=$(cat "$share/kernelrelease")
	prefix=$(boot_prefix)
	append=$(current_append)
	[ -n "$append" ] || die "no APPEND line in the default entry of $conf: cannot tell which root= to use; not adding an entry"
	{
		without_block
		printf '%s\n' "$begin"
		printf 'LABEL %s\n' "$pkgbase"
		printf '    MENU LABEL Linux %s (fresnel-fourier: vb2 producer fences)\n' "$kver"
		printf '    LINUX %s/Image-%s\n' "$prefix" "$pkgbase"
		printf '    INITRD %s/initramfs-%s.img\n' "$prefix" "$pkgbase"
		printf '    FDT %s/dtbs-%s/rockchip/rk3399-pinebook-pro.dtb\n' "$prefix" "$pkgbase"
		printf '    APPEND %s\n' "$append"
		printf '%s\n' "$end"
	} | write_conf
	echo "extlinux: entry '$pkgbase' for $kver added to $conf; DEFAULT unchanged"
}

set_default() {
	local prev
	prev=$(awk 'tolower($1) == "default" { print $2; exit }' "$conf")
	[ "$prev" != "$pkgbase" ] || return 0
	awk -v s="$saved" -v p="$pkgbase" -v prev="$prev" '
		tolower($1) == "default" && !done { print s " " prev; print "DEFAULT " p; done = 1; next }
		{ print }
		END { if (!done) { print s " " prev; print "DEFAULT " p } }' "$conf" | write_conf
	echo "extlinux: DEFAULT is now $pkgbase (was '${prev:-none}'; 'undefault' restores it)"
}

unset_default() {
	grep -qF "$saved" "$conf" || return 0
	awk -v s="$saved" '
		index($0, s) == 1 { prev = substr($0, length(s) + 2); restore = 1; next }
		restore && tolower($1) == "default" { if (prev != "") print "DEFAULT " prev; restore = 0; next }
		{ print }' "$conf" | write_conf
	echo "extlinux: previous DEFAULT restored"
}

case "${1:-}" in
add) add ;;
remove)
	unset_default
	without_block | write_conf
	echo "extlinux: entry '$pkgbase' removed from $conf"
	;;
default) set_default ;;
undefault) unset_default ;;
*) die "usage: ${0##*/} add|remove|default|undefault" ;;
esac
