#!/usr/bin/env bash
# End-to-end build timings on generated contexts, beside a bare stat walk of the same tree.
#
#   benches/build-contexts.sh [RBUILD] [SIZES]
#
# RBUILD defaults to target/release/rbuild (built if missing); SIZES defaults to
# "10000:104857600 100000:1073741824" (files:bytes). For each size it generates a context
# once under target/bench-contexts/ (four top-level dirs, COPYed in four steps, FROM
# scratch), then reports with hyperfine, as medians:
#   cold     a fresh store every run
#   no-op    an unchanged rebuild
#   changed  a rebuild after one file's content changed
#   find     `find CTX -printf '%s %T@\n'`, the bare stat walk of the same tree
# and the peak RSS of each build kind (/usr/bin/time -v). Needs hyperfine and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RBUILD=${1:-target/release/rbuild}
SIZES=${2:-"10000:104857600 100000:1073741824"}
[ -x "$RBUILD" ] || cargo build --release
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }
RBUILD=$(readlink -f "$RBUILD")
OUT=target/bench-contexts/results-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

gen() { # gen DIR FILES BYTES
    python3 - "$@" <<'PY'
import os, random, sys
root, files, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = max(1, total // files)
rnd = random.Random(7)
dirs = ["a", "b", "c", "d"]
per_sub = 500
for i in range(files):
    top = dirs[i % 4]
    sub = os.path.join(root, top, f"s{(i // 4) // per_sub:04d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i:07d}.bin"), "wb") as f:
        f.write(rnd.randbytes(size))
with open(os.path.join(root, "Dockerfile"), "w") as f:
    f.write("FROM scratch\n" + "".join(f"COPY {d}/ /data/{d}/\n" for d in dirs))
PY
}

for spec in $SIZES; do
    files=${spec%%:*}; bytes=${spec##*:}
    ctx=target/bench-contexts/ctx-$files-$bytes
    if [ ! -f "$ctx/.complete" ]; then
        echo "generating $files files, $bytes bytes in $ctx"
        rm -rf "$ctx"; gen "$ctx" "$files" "$bytes"; touch "$ctx/.complete"
    fi
    root=$(mktemp -d "$OUT/root.XXXXXX")
    changed=$(find "$ctx/d" -type f | sort | awk "NR == 1")
    build="$RBUILD --root $root build -q -t bench:$files $ctx"
    echo "== $files files ($bytes bytes)"
    # One hyperfine per kind (hyperfine 1.15 takes one --runs per invocation).
    hf() { # hf NAME RUNS [hyperfine options…] COMMAND
        local name=$1 runs=$2; shift 2
        hyperfine --style basic --export-json "$OUT/$files-$name.json" -n "$name $files" \
            --runs "$runs" "$@"
    }
    hf cold 3 --prepare "rm -rf $root; sync" "$build"
    hf no-op 10 --warmup 1 --prepare "sync" "$build"
    hf changed 5 --prepare "sh -c 'date +%s%N >> $changed; sync'" "$build"
    hf find 10 --warmup 1 "find $ctx -printf '%s %T@\n'"
    for name in cold no-op changed find; do
        jq -r --arg n "$name" '.results[0] | "median \($n): \(.median * 1000 | floor) ms"' \
            "$OUT/$files-$name.json"
    done
    for kind in cold no-op changed; do
        case $kind in
            cold) rm -rf "$root" ;;
            changed) date +%s%N >> "$changed" ;;
        esac
        /usr/bin/time -v $build 2> "$OUT/$files-$kind.time" > /dev/null
        echo "peak RSS $kind: $(awk -F': ' '/Maximum resident/ {print $2}' "$OUT/$files-$kind.time") KiB"
    done
    rm -rf "$root"
done
echo "results in $OUT"
