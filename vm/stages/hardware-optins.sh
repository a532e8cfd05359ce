#!/bin/sh
# hardware-optins.sh [LIST]: the package ships the fence opt-in of each
# hardware driver switched off until it carries a Tested-by (design.md K10,
# manifest.toml [[hardware_optin]]). LIST (build-initramfs.sh writes it from
# `fresnel-tools manifest hardware-optins`) has one "driver module parameter
# Y|N" line per driver, the last word the default the manifest allows. For
# each: load the module, check the parameter's default, then switch it on
# and back as the on-target run does. Ends with the summary line; exits 1
# when any check failed.
set -u
list=${1:-/etc/fresnel/hardware-optins}
passed=0 failed=0

pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

if [ ! -r "$list" ]; then
	fail hardware-optin/list "$list is missing: build-initramfs.sh writes it"
	echo "$passed passed, $failed failed, 0 skipped"
	exit 1
fi
while read -r driver module param want; do
	name=hardware-optin/$driver
	p=/sys/module/$module/parameters/$param
	if ! modprobe "$module"; then
		fail "$name/default" "modprobe $module failed"
		continue
	fi
	if ! got=$(cat "$p" 2>/dev/null); then
		fail "$name/default" "$p does not exist: is the package-only patch that adds it applied?"
		continue
	fi
	if [ "$got" = "$want" ]; then
		pass "$name/default"
	else
		fail "$name/default" "$param is $got, manifest.toml allows $want (a Tested-by flips it)"
	fi
	if echo Y >"$p" && [ "$(cat "$p")" = Y ] && echo "$got" >"$p" &&
		[ "$(cat "$p")" = "$got" ]; then
		pass "$name/switch-and-restore"
	else
		fail "$name/switch-and-restore" "could not set $p to Y and back to $got"
	fi
	rmmod "$module" || fail "$name/rmmod" "rmmod $module failed"
done <"$list"
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
