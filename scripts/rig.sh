#!/usr/bin/env bash
# rig.sh ARGS...: run the rig's own Rust tool (rig/: config checks, verdicts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cargo build -q --release --manifest-path "$here/../rig/Cargo.toml"
exec "$here/../rig/target/release/fresnel-rig" "$@"
