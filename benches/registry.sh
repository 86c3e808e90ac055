#!/usr/bin/env bash
# Pull and push of a 200 MB, 5-layer image against a local docker-registry: rbuild side
# by side with `skopeo copy` doing the same transfer, medians by hyperfine.
#
#   benches/registry.sh                      # debug binary (cargo build)
#   RBUILD=target/release/rbuild benches/registry.sh
#   RUNS=7 LAYER_MB=40 LAYERS=5 benches/registry.sh
#
# Both tools verify digests and write blobs to disk (rbuild: its store; skopeo: an OCI
# layout). Before each push run the registry's storage is wiped, so every byte is sent.
set -euo pipefail

RUNS=${RUNS:-5}
LAYERS=${LAYERS:-5}
LAYER_MB=${LAYER_MB:-40}
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${RBUILD:-}" ]]; then
  (cd "$here" && cargo build --quiet --bin rbuild)
  RBUILD="$here/target/debug/rbuild"
fi
for t in docker-registry skopeo hyperfine jq python3; do
  command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done

work=$(mktemp -d)
reg_pid=
cleanup() { [[ -n "$reg_pid" ]] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The image: LAYERS gzip layers, each one file of LAYER_MB MiB of incompressible bytes.
python3 - "$work/layout" "$LAYERS" "$LAYER_MB" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{out}/blobs/sha256")
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(b)
    return {"digest": "sha256:" + d, "size": len(b)}
layers, diffs = [], []
for i in range(n):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        data = os.urandom(mb << 20)
        info = tarfile.TarInfo(f"layer{i}.bin"); info.size = len(data); info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    diffs.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
    gz = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(gz)})
config = {"architecture": "amd64", "os": "linux", "config": {},
          "rootfs": {"type": "layers", "diff_ids": diffs}}
cd = {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(json.dumps(config).encode())}
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": cd, "layers": layers}
md = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(json.dumps(m).encode()),
      "annotations": {"org.opencontainers.image.ref.name": "bench"}}
json.dump({"schemaVersion": 2, "manifests": [md]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
storage="$work/storage"
mkdir -p "$storage"
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
host=127.0.0.1:$port

skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:bench" "docker://$host/bench/src:latest"
"$RBUILD" --root "$work/rb-src" pull "$host/bench/src:latest" >/dev/null 2>&1
# No mount hints: every push run must upload.
rm -rf "$work/rb-src/registry-origins"
export RBUILD RUNS host work storage
echo "image: $LAYERS layers x $LAYER_MB MiB (gzip, incompressible), registry $host, $RUNS runs"

hyperfine --style basic --runs "$RUNS" --export-json "$work/pull.json" \
  --prepare "rm -rf '$work/rb-pull' '$work/sk-pull'" \
  -n "rbuild pull" "'$RBUILD' --root '$work/rb-pull' pull '$host/bench/src:latest'" \
  -n "skopeo pull" "skopeo copy --quiet --src-tls-verify=false 'docker://$host/bench/src:latest' 'oci:$work/sk-pull:latest'"

hyperfine --style basic --runs "$RUNS" --export-json "$work/push.json" \
  --prepare "rm -rf '$storage/docker'" \
  -n "rbuild push" "'$RBUILD' --root '$work/rb-src' push '$host/bench/src:latest' '$host/bench/dst:latest'" \
  -n "skopeo push" "skopeo copy --quiet --dest-tls-verify=false 'oci:$work/layout:bench' 'docker://$host/bench/dst:latest'"

echo
echo "medians (s):"
jq -r '.results[] | "\(.command)\t\(.median)"' "$work/pull.json" "$work/push.json" | column -t -s $'\t'
