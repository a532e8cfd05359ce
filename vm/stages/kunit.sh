#!/bin/sh
# kunit.sh MODULE SUITE: load a KUnit test module, which runs its suite at
# load time, and print the suite's KTAP results (fresnel-rig judges them:
# verdict kunit); then unload it, so that videobuf2 can be unloaded later.
set -eu
module=$1 suite=$2
modprobe "$module"
cat "/sys/kernel/debug/kunit/$suite/results"
rmmod "$module"
