#!/usr/bin/env bash
# landing-map.sh: the main job. Installs what it needs, builds the control and
# the patched kernel, boots both under QEMU with the suite and the Rust
# module, and prints the fence landing map of each (control first), then the
# verdict. Exit status is the verdict's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

"$here/install-host-deps.sh"
rc=0
"$here/vm-test.sh" || rc=$?
runs=$FRESNEL_CACHE/runs
"$here/rig.sh" landing-map --control "$runs/control" --patched "$runs/patched"
exit "$rc"
