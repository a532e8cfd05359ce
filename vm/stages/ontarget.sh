#!/bin/sh
# ontarget.sh: the suite, run as the PineBook Pro runs it: through the
# on-target run (fresnel-ontarget, README.md "The on-target run"), with the
# virtual drivers standing in for hantro, rga and rkvdec (every stand-in
# must be found). Its output is the suite's, so the stage is judged as the
# suite is; the ontarget-check (patched) and ontarget-refused (control)
# stages then hold the report it wrote.
# ontarget.sh stop SECONDS: the same run, sent SIGTERM SECONDS in (a job
# this shell starts in the background has SIGINT ignored, and the run then
# leaves it ignored; SIGTERM takes the path Ctrl-C takes on the laptop): it
# must stop with status 2, say so, write no report, and leave every opt-in
# as it found it.
set -eu
mode=${1:-run}
optins=/etc/fresnel/hardware-optins
# Each opt-in parameter the kernel has, with its value.
values() {
	while read -r _driver module parameter _default; do
		f=/sys/module/$module/parameters/$parameter
		if [ -e "$f" ]; then echo "$f=$(cat "$f")"; fi
	done <"$optins"
}
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
case "$mode" in
run)
	fresnel-ontarget run --expect stand-ins --optins "$optins" \
		--out /tmp/ontarget --tester "Rig Check <rig-check@fresnel-fourier.dev>" || rc=$?
	;;
stop)
	before=$(values)
	echo "opt-ins before: $before"
	fresnel-ontarget run --expect stand-ins --optins "$optins" \
		--out /tmp/ontarget-stop >/tmp/ontarget-stop.log 2>&1 &
	pid=$!
	sleep "${2:?usage: ontarget.sh stop SECONDS}"
	kill -TERM "$pid" || echo "ontarget.sh: the run had ended before SIGTERM"
	wait "$pid" || rc=$?
	tail -n 3 /tmp/ontarget-stop.log
	after=$(values)
	echo "opt-ins after: $after"
	if [ "$rc" -ne 2 ] || ! grep -q "stopped by signal 15" /tmp/ontarget-stop.log ||
		[ -e /tmp/ontarget-stop/report.json ] || [ "$before" != "$after" ]; then
		echo "ontarget.sh: SIGTERM did not stop the run cleanly: exit status $rc (want 2), a stop message, no report, the opt-ins as before"
		rc=1
	else
		rc=0
	fi
	;;
*)
	echo "ontarget.sh: unknown mode '$mode' (run, or stop SECONDS)"
	exit 2
	;;
esac
# A module that will not unload is still referenced; the line after the
# summary then fails the stage.
for module in $loaded; do
	rmmod "$module" || echo "ontarget.sh: rmmod $module failed: still in use after the run"
done
exit "$rc"
