#!/bin/sh
# ontarget.sh: the suite, run as the PineBook Pro runs it: through the
# on-target run (fresnel-ontarget, README.md "The on-target run"), with the
# virtual drivers standing in for hantro, rga and rkvdec (every stand-in
# must be found). Its output is the suite's, so the stage is judged as the
# suite is; the ontarget-check (patched) and ontarget-refused (control)
# stages then hold the report it wrote.
set -eu
optins=/etc/fresnel/hardware-optins
# The hardware drivers load without their hardware (hardware-optins.sh
# shows it); loaded here, the run switches their opt-ins on and back as it
# does on the laptop, where the device tree loads them. Unloaded after, so
# that the later stages (vb2-module-cycles) find the modules as before.
loaded=
while read -r _driver module _parameter _default; do
	if grep -q "^$module " /proc/modules; then continue; fi
	if modprobe "$module"; then
		loaded="$loaded $module"
	else
		echo "ontarget.sh: modprobe $module failed"
	fi
done <"$optins"
rc=0
fresnel-ontarget run --expect stand-ins --optins "$optins" \
	--out /tmp/ontarget --tester "Rig Check <rig-check@fresnel-fourier.dev>" || rc=$?
# A module that will not unload is still referenced; the line after the
# summary then fails the stage.
for module in $loaded; do
	rmmod "$module" || echo "ontarget.sh: rmmod $module failed: still in use after the run"
done
exit "$rc"
