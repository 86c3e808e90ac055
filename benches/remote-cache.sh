#!/usr/bin/env bash
# The shared build cache's two-runner scenario against a local docker-registry: runner A
# builds a two-stage Dockerfile (RUN steps writing LAYER_MB MiB of random bytes each)
# and exports --cache-to type=registry,mode=max; runner B (an empty store with only the
# base image) builds the same Dockerfile with --cache-from. Reported:
#   - B's cached build wall time (hyperfine median; B's store is reset before each run),
#     beside A's cold build and a no-op rebuild on A's own store;
#   - bytes on the wire (a byte-counting TCP relay in front of the registry) for B's
#     cached build, for B's build + --push to the same registry, and for B's build with
#     -o type=local (which does need the layers).
#
#   benches/remote-cache.sh                       # debug binary (cargo build)
#   RBUILD=target/release/rbuild benches/remote-cache.sh
#   RUNS=10 LAYER_MB=32 benches/remote-cache.sh
set -euo pipefail

RUNS=${RUNS:-10}
LAYER_MB=${LAYER_MB:-16}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${RBUILD:-}" ]]; then
  (cd "$here" && cargo build --quiet --bin rbuild)
  RBUILD="$here/target/debug/rbuild"
fi
RBUILD=$(readlink -f "$RBUILD")
for t in docker-registry hyperfine python3 jq; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
[[ -x /bin/busybox ]] || { echo "missing: /bin/busybox (busybox-static)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reg_port=$(free_port)
relay_port=$(free_port)
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$reg_port
  secret: bench
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)

# A TCP relay that counts bytes each way; `echo > $work/relay.reset` zeroes the counters,
# $work/relay.count holds "down up" (registry→client, client→registry).
python3 - "$relay_port" "$reg_port" "$work" <<'PY' &
import os, socket, sys, threading
port, upstream, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
count = [0, 0]
def save():
    with open(f"{work}/relay.count.tmp", "w") as f:
        f.write(f"{count[0]} {count[1]}\n")
    os.replace(f"{work}/relay.count.tmp", f"{work}/relay.count")
def pump(src, dst, i):
    try:
        while True:
            b = src.recv(1 << 16)
            if not b:
                break
            with lock:
                if os.path.exists(f"{work}/relay.reset"):
                    os.remove(f"{work}/relay.reset"); count[0] = count[1] = 0
                count[i] += len(b); save()
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(64)
save()
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", upstream))
    threading.Thread(target=pump, args=(u, c, 0), daemon=True).start()
    threading.Thread(target=pump, args=(c, u, 1), daemon=True).start()
PY
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$reg_port) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$relay_port) 2>/dev/null && break
  sleep 0.1
done

# The base image, imported at a fixed time into both stores (as two pulls of one tag).
bash "$here/testdata/busybox/make-rootfs.sh" "$work/busybox.tar" >/dev/null
for r in A B0; do
  SOURCE_DATE_EPOCH=1700000000 "$RBUILD" --root "$work/$r" import "$work/busybox.tar" busybox:test >/dev/null
done
mkdir -p "$work/ctx"
cat > "$work/ctx/Dockerfile" <<EOF
FROM busybox:test AS builder
RUN head -c $((LAYER_MB << 20)) /dev/urandom > /data
RUN head -c 16 /dev/urandom | od -x > /r

FROM busybox:test
COPY --from=builder /data /data
RUN head -c $((LAYER_MB << 20)) /dev/urandom > /more
ENV APP=1
EOF
reg=127.0.0.1:$relay_port
export DOCKER_CONFIG=$work/docker
mkdir -p "$DOCKER_CONFIG"

measure() { # measure LABEL CMD… : runs CMD, prints the bytes it moved
  local label=$1; shift
  echo > "$work/relay.reset"; sleep 0.05
  "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  sleep 0.2
  read -r down up < "$work/relay.count"
  [[ -e "$work/relay.reset" ]] && down=0 up=0
  printf '%-46s down %10s B   up %10s B\n' "$label" "$down" "$up"
}

echo "== layer size ${LAYER_MB} MiB; $(basename "$RBUILD")"
measure "A: cold build, --cache-to (mode=max)" \
  "$RBUILD" --root "$work/A" build -q --cache-to "type=registry,ref=$reg/cache:latest,mode=max" "$work/ctx"
cp -a "$work/B0" "$work/B"
measure "B: --cache-from, no output" \
  "$RBUILD" --root "$work/B" build -q --metadata-file "$work/b.json" --cache-from "$reg/cache:latest" "$work/ctx"
jq -e '[.["rbuild.steps"][].cached] | all' "$work/b.json" >/dev/null || { echo "B missed the cache" >&2; exit 1; }
rm -rf "$work/B"; cp -a "$work/B0" "$work/B"
measure "B: --cache-from, --push to the same registry" \
  "$RBUILD" --root "$work/B" build -q --cache-from "$reg/cache:latest" --push -t "$reg/app:1" "$work/ctx"
rm -rf "$work/B" "$work/out"; cp -a "$work/B0" "$work/B"
measure "B: --cache-from, -o type=local" \
  "$RBUILD" --root "$work/B" build -q --cache-from "$reg/cache:latest" -o "type=local,dest=$work/out" "$work/ctx"

echo "== wall time"
hyperfine --style basic --runs "$RUNS" --export-json "$work/hyperfine.json" \
  -n "B: --cache-from (fresh store, base only)" \
  --prepare "rm -rf $work/B && cp -a $work/B0 $work/B" \
  "$RBUILD --root $work/B build -q --cache-from $reg/cache:latest $work/ctx" \
  -n "A: no-op rebuild on its own store" \
  --prepare "true" \
  "$RBUILD --root $work/A build -q $work/ctx" \
  -n "A: cold build (fresh store, base only)" \
  --prepare "rm -rf $work/C && cp -a $work/B0 $work/C" \
  "$RBUILD --root $work/C build -q $work/ctx"
