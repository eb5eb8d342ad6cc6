#!/usr/bin/env bash
# Runs a command inside a memory cgroup with a hard limit, to show that a job
# fits in that much memory (anonymous memory and page cache together, as a
# container limit counts them), not merely that its peak RSS happened to be low.
#   bash bench/memory-limit.sh MEGABYTES command [args...]   (MB of 10^6 bytes, as the bench reports;
#   until 2026-12-05 the script took MiB, so earlier notes' "300 MB" limits were 315 MB)
#   bash bench/memory-limit.sh 300 node dist/cli/hugemap.js tile photo-944mp.jpg --out /tmp/o
# Prints /usr/bin/time -v's peak RSS and wall time, and whether the kernel's
# OOM killer fired. Needs root and a writable cgroup v1 memory controller or
# cgroup v2 hierarchy (as on this project's machines); exits 2 without one.
set -euo pipefail
limit_mb=${1:?usage: memory-limit.sh MEGABYTES command [args...]}
shift
name=hugemap-memlimit-$$

if [[ -w /sys/fs/cgroup/memory ]]; then            # cgroup v1
  cg=/sys/fs/cgroup/memory/$name
  mkdir "$cg"
  echo $((limit_mb * 1000 * 1000)) >"$cg/memory.limit_in_bytes"
  oom_kills() { sed -n 's/^oom_kill //p' "$cg/memory.oom_control"; }
elif [[ -w /sys/fs/cgroup/unified || -f /sys/fs/cgroup/cgroup.controllers ]]; then   # cgroup v2
  root=/sys/fs/cgroup; [[ -d /sys/fs/cgroup/unified ]] && root=/sys/fs/cgroup/unified
  cg=$root/$name
  mkdir "$cg"
  echo $((limit_mb * 1000 * 1000)) >"$cg/memory.max" || { rmdir "$cg"; echo "memory-limit: no memory controller in $root" >&2; exit 2; }
  oom_kills() { sed -n 's/^oom_kill //p' "$cg/memory.events"; }
else
  echo "memory-limit: no writable memory cgroup here" >&2
  exit 2
fi
report=$(mktemp)
trap 'rmdir "$cg" 2>/dev/null || true; rm -f "$report"' EXIT

set +e
# The child joins the cgroup, then becomes the measured command.
bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec /usr/bin/time -v "$@"' _ "$cg" "$@" 2>"$report"
status=$?
set -e
grep -E 'Maximum resident set size|Elapsed \(wall clock\)' "$report" | sed 's/^\s*//'
echo "limit: ${limit_mb} MB, exit status: $status, OOM kills: $(oom_kills)"
exit "$status"
