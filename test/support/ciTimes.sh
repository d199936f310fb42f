#!/usr/bin/env bash
# Where the end-to-end suite's time goes. Runs each *.e2e.ts file in a `node --test` process of its own, as
# `npm run test:e2e` does, `jobs` at a time (in the order given, like its --test-concurrency), and prints per file its
# wall time and CPU time (its processes and the children they waited for: not a detached gateway's), slowest first,
# then the total wall time and the load average. Each file's TAP output (every test's duration_ms) stays in out-dir.
#   bash test/support/ciTimes.sh [jobs] [out-dir] [files...]   (defaults: 1, .ci/artifacts/times, every *.e2e.ts)
# A file's wall time minus its CPU time is what it waited for (sleeps, drains, timers, other processes) or, on a busy
# machine, the cores it did not get: read `uptime` with it.
set -uo pipefail
cd "$(dirname "$0")/../.."
jobs=${1:-1}
out=${2:-.ci/artifacts/times}
shift 2 2>/dev/null || shift $#
mkdir -p "$out"
if [ "$#" -eq 0 ]; then set -- test/*.e2e.ts test/*/*.e2e.ts test/*/*/*.e2e.ts; fi
export CI=${CI:-true} OUT=$out
: >"$out/times.tsv"
one() {
  local name
  name=$(echo "$1" | tr / _)
  /usr/bin/time -f "%e %U %S" -o "$OUT/$name.time" \
    node --import tsx --test --test-reporter=tap --test-timeout=300000 "$1" >"$OUT/$name.tap" 2>&1
  local status=$? wall user system fails
  read -r wall user system < <(tail -n 1 "$OUT/$name.time")
  fails=$(grep -E '^# fail [0-9]+$' "$OUT/$name.tap" | awk '{print $3}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$wall" "$1" "$(awk "BEGIN { print $user + $system }")" "$status" "${fails:-?}" \
    >>"$OUT/times.tsv"
}
export -f one
start=$(date +%s.%N)
printf '%s\0' "$@" | xargs -0 -n 1 -P "$jobs" bash -c 'one "$0"'
total=$(awk "BEGIN { print $(date +%s.%N) - $start }")
echo "wall_s	file	cpu_s	exit	failed"
sort -rn "$out/times.tsv"
awk -F '\t' '{ cpu += $3; failed += $5 } END { printf "cpu total %.0f s, tests failed %d\n", cpu, failed }' "$out/times.tsv"
printf 'total wall %.0f s, %s files, %s at a time, load %s\n' "$total" "$#" "$jobs" "$(cut -d' ' -f1-3 /proc/loadavg)"
