#!/usr/bin/env bash
# check-crate.sh DIR: cargo fmt --check, clippy -D warnings and test for one crate.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
dir=${1:?usage: check-crate.sh DIR}
cd "$dir"
cargo fmt --check
timeout 900 cargo clippy --quiet --all-targets -- -D warnings
timeout 900 cargo test --quiet
