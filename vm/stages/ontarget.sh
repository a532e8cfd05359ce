#!/bin/sh
# ontarget.sh: the on-target run (fresnel-ontarget, README.md "The on-target
# run") as the PineBook Pro runs it, in the arm64 package guest where the
# virtual drivers stand in for hantro, rga and rkvdec: every stand-in must
# be found. Its output is the suite's, so the stage is judged as the suite
# is; the ontarget-check stage then holds the report it wrote.
set -eu
exec fresnel-ontarget run --expect stand-ins \
	--optins /etc/fresnel/hardware-optins --out /tmp/ontarget \
	--tester "Rig Check <rig-check@fresnel-fourier.dev>"
