#!/usr/bin/env bash
# makepkg.sh [makepkg options]: build the package from this checkout. makepkg
# runs in a staging directory (default build/makepkg/, ignored by git) that
# `fresnel-tools pkgbuild stage` fills with symlinks to the PKGBUILD, the
# directories it reads and each local source under its bare name, so makepkg
# checks and uses the files as they are now and never copies them into the
# checkout; its src/, pkg/, downloads and packages stay in that directory.
# Env: FRESNEL_MAKEPKG_DIR  the staging directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=${FRESNEL_MAKEPKG_DIR:-$root/build/makepkg}
"$here/tools.sh" pkgbuild stage --manifest "$root/manifest.toml" --dir "$dir" >/dev/null
cd "$dir"
exec makepkg "$@"
