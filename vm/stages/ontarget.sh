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
# does on the laptop, where the device tree loads them.
while read -r _driver module _parameter _default; do
	modprobe "$module" || echo "ontarget.sh: modprobe $module failed"
done <"$optins"
exec fresnel-ontarget run --expect stand-ins --optins "$optins" \
	--out /tmp/ontarget --tester "Rig Check <rig-check@fresnel-fourier.dev>"
