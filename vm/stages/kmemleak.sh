#!/bin/sh
# Two scans: kmemleak reports an object only once it was unreferenced in
# consecutive scans.
echo scan >/sys/kernel/debug/kmemleak
echo scan >/sys/kernel/debug/kmemleak
cat /sys/kernel/debug/kmemleak
