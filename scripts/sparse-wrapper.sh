#!/usr/bin/env bash
# sparse-wrapper.sh: print the path of a sparse that the 7.2 kernel takes as
# CHECK=. Bookworm's sparse 0.6.4 cannot parse __typeof_unqual__, and the
# kernel's scripts/checker-valid.sh then turns C=1 off with only a warning;
# sid's ([host_sid]) needs glibc 2.38, so it runs under sid's dynamic loader
# and C runtime ([vm_userspace], the guest's). checker-valid.sh only looks
# for "error" in the output, which a binary that fails to load does not
# print, so the probe here insists on silence and exit status 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

tools=$("$here/fetch-sid-debs.sh" host_sid)
runtime=$("$here/fetch-sid-debs.sh" vm_userspace)
lib=$runtime/usr/lib/x86_64-linux-gnu
[ -x "$tools/usr/bin/sparse" ] || die "$tools has no usr/bin/sparse: does manifest.toml [host_sid] pin sparse?"
[ -x "$lib/ld-linux-x86-64.so.2" ] || die "$lib has no ld-linux-x86-64.so.2: does manifest.toml [vm_userspace] pin libc6?"
wrapper=$tools/sparse-check
cat >"$wrapper.tmp" <<EOF
#!/bin/sh
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$tools/usr/bin/sparse" "\$@"
EOF
chmod +x "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"

probe=$(mktemp --suffix=.c)
trap 'rm -f "$probe"' EXIT
# The construct scripts/checker-valid.sh tests for.
printf 'static inline int u(const int *q)\n{\n\t__typeof_unqual__(*q) v = *q;\n\treturn v;\n}\n' >"$probe"
rc=0
out=$("$wrapper" "$probe" 2>&1) || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	die "sid's sparse ($wrapper) fails the kernel's checker test (exit $rc): ${out:-no output}"
fi
echo "$wrapper"
