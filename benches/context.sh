#!/usr/bin/env bash
# Measures the build context against `find`, outside criterion:
#   benches/context.sh [files] [bytes]        (default: 100000 files, 1 GiB)
# Generates the context once under target/bench-contexts/, then reports with hyperfine
# the warm rebuild (walk + stat cache, nothing read) next to
# `find CTX -printf '%s %T@\n'`, the cold selection (walk + hash everything), and the
# peak RSS of each from /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."

files=${1:-100000}
bytes=${2:-1073741824}
ctx="target/bench-contexts/${files}-${bytes}"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT

bin=$(cargo bench --bench context --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.executable != null and .target.name == "context") | .executable' | tail -1)
[ -x "$bin" ] || { echo "could not build the context bench" >&2; exit 1; }

RBUILD_CTX_ONESHOT=gen RBUILD_CTX_DIR="$ctx" RBUILD_CTX_FILES="$files" RBUILD_CTX_BYTES="$bytes" "$bin"
# Prime the page cache and the stat cache.
find "$ctx" -printf '%s %T@\n' >/dev/null
RBUILD_CTX_ONESHOT=warm RBUILD_CTX_DIR="$ctx" RBUILD_CTX_CACHE="$cache" "$bin" >/dev/null

echo "== $files files, $(du -sh "$ctx" | cut -f1) on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine --warmup 2 --runs "${RUNS:-10}" \
    -n find "find $ctx -printf '%s %T@\n'" \
    -n warm "env RBUILD_CTX_ONESHOT=warm RBUILD_CTX_DIR=$ctx RBUILD_CTX_CACHE=$cache $bin" \
    -n cold "env RBUILD_CTX_ONESHOT=cold RBUILD_CTX_DIR=$ctx $bin"

for mode in warm cold; do
    printf '%s: ' "$mode"
    env RBUILD_CTX_ONESHOT=$mode RBUILD_CTX_DIR="$ctx" RBUILD_CTX_CACHE="$cache" \
        /usr/bin/time -f 'peak RSS %M KB, %e s wall, %U s user, %S s sys' "$bin" 2>&1 >/dev/null
done
printf 'find: '
/usr/bin/time -f 'peak RSS %M KB, %e s wall, %U s user, %S s sys' find "$ctx" -printf '%s %T@\n' 2>&1 >/dev/null
