#!/bin/sh
# fence-bench (docs/performance.md). The probe module's tracepoint handlers
# would bill their own work to the fences-on runs, so it is unloaded first;
# no later stage needs it.
if [ -e /dev/vb2_fence_probe ]; then rmmod vb2_fence_probe || exit 1; fi
exec /usr/bin/fence-bench --json
