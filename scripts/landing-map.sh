#!/usr/bin/env bash
# landing-map.sh: the main job. Installs what it needs, builds the control and
# the patched kernel, boots both under QEMU with the suite and the Rust
# module, and prints the fence landing maps of both side by side (vm-test.sh
# does), then the verdict. Exit status is the verdict's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

"$here/install-host-deps.sh"
exec "$here/vm-test.sh"
