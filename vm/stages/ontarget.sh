#!/bin/sh
# ontarget.sh: the suite, run as the PineBook Pro runs it: through the
# on-target run (fresnel-ontarget, README.md "The on-target run"), with the
# virtual drivers standing in for hantro, rga and rkvdec (every stand-in
# must be found). Its output is the suite's, so the stage is judged as the
# suite is; the ontarget-check (patched) and ontarget-refused (control)
# stages then hold the report it wrote.
set -eu
exec fresnel-ontarget run --expect stand-ins \
	--optins /etc/fresnel/hardware-optins --out /tmp/ontarget \
	--tester "Rig Check <rig-check@fresnel-fourier.dev>"
