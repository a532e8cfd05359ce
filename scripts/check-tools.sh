#!/usr/bin/env bash
# check-tools.sh: one entry point for everything under tools/ and the
# package: build, fmt, clippy, cargo test (unit + fixture + synthetic-repo
# tests), `manifest check` on the real manifest, then check-package.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

cd "$REPO_ROOT/tools"
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy -D warnings"
with_timeout 900 "cargo clippy" nice -n 10 cargo clippy --quiet --all-targets --locked -- -D warnings
step "cargo test"
with_timeout 900 "cargo test" nice -n 10 cargo test --locked
step "fresnel-tools manifest check (real manifest)"
"$here/tools.sh" manifest check --manifest "$REPO_ROOT/manifest.toml"
"$here/check-package.sh"
ok "tools and package checks passed"
