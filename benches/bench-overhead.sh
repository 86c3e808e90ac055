#!/bin/bash
# The overhead of `rbuild bench` on the no-op scenario: its no-op median beside the median
# of a plain `rbuild build` of the same context on a warm store, timed by hyperfine
# (without a shell, as the bench spawns builds). Measured twice around the bench, so drift
# in the machine's load shows.
#
#   benches/bench-overhead.sh [RBUILD] [CONTEXT] [RUNS]
#   (defaults: target/release/rbuild testdata/bench/context 30)
set -euo pipefail
rbuild=$(realpath "${1:-target/release/rbuild}")
ctx=${2:-testdata/bench/context}
runs=${3:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$ctx" "$work/ctx"
"$rbuild" --root "$work/root" build --metadata-file "$work/m.json" "$work/ctx" 2>/dev/null
build() {
  hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$work/h.json" \
    "$rbuild --root $work/root build --progress=auto --compression=gzip --metadata-file $work/m.json $work/ctx" >/dev/null
  jq -r '.results[0] | "\(.median * 1000) \((.user + .system) * 1000)"' "$work/h.json"
}
read -r before before_cpu < <(build)
"$rbuild" --root "$work/bench-root" bench --runs "$runs" --warmup 3 --format json "$work/ctx" \
  > "$work/bench.json" 2>/dev/null
read -r after after_cpu < <(build)
read -r noop noop_cpu < <(jq -r '.scenarios[] | select(.name == "no-op")
  | "\(.wall_ms.median) \([.runs[] | .user_ms + .sys_ms] | add / length)"' "$work/bench.json")
awk -v b="$before" -v a="$after" -v n="$noop" -v bc="$before_cpu" -v ac="$after_cpu" -v nc="$noop_cpu" 'BEGIN {
  m = (a + b) / 2; mc = (ac + bc) / 2
  printf "rbuild build (hyperfine): wall median %.2f ms before, %.2f ms after the bench; CPU mean %.2f / %.2f ms\n", b, a, bc, ac
  printf "rbuild bench no-op:       wall median %.2f ms; CPU mean %.2f ms\n", n, nc
  printf "bench overhead:           wall %+.1f%%, CPU %+.1f%% (against the mean of before and after)\n", (n / m - 1) * 100, (nc / mc - 1) * 100
}'
