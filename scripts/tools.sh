#!/usr/bin/env bash
# tools.sh ARGS...: run fresnel-tools (tools/: manifest, strict apply, package, RFC).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cargo build -q --release --manifest-path "$here/../tools/Cargo.toml"
exec "$here/../tools/target/release/fresnel-tools" "$@"
