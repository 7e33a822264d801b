#!/usr/bin/env bash
# Latency of `GET /connectors?expand=status` with 100 connectors (datagen sources, 1 record/s
# each) on one worker, against `GET /` (the HTTP floor: same server, no work) in the same run.
#
#   bash tests/bench/api_latency.sh        # REQUESTS=2000 of each by default
#
# Prints p50, p99 and max of each, in ms, as measured by a keep-alive Python client.
set -euo pipefail
cd "$(dirname "$0")/../.."
REQUESTS=${REQUESTS:-2000}
CONNECTORS=${CONNECTORS:-100}
rustup toolchain install >/dev/null
cargo build --release -q -p connectd
cargo build --release -q --target wasm32-wasip2 -p connectd-datagen-source
WORK=$(mktemp -d)
mkdir -p "$WORK/plugins" "$WORK/connectors.d"
cp target/wasm32-wasip2/release/connectd_datagen_source.wasm "$WORK/plugins/datagen-source.wasm"
API_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KAFKA_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/worker.toml" <<TOML
[worker]
data_dir = "data"
plugin_dir = "plugins"
connectors_dir = "connectors.d"
[api]
listen = "127.0.0.1:$API_PORT"
[broker]
listen = "127.0.0.1:$KAFKA_PORT"
TOML
for i in $(seq "$CONNECTORS"); do
  printf 'plugin = "datagen-source"\ntopic = "lat-%s"\nrate = 1\n' "$i" > "$WORK/connectors.d/gen-$i.toml"
done
target/release/connectd --config "$WORK/worker.toml" 2> "$WORK/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
python3 - "$API_PORT" "$REQUESTS" "$CONNECTORS" <<'PY'
import http.client, json, statistics, sys, time
port, n, want = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
deadline = time.time() + 120
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/connectors?expand=status")
        body = json.loads(c.getresponse().read())
        running = sum(1 for v in body.values() if v["status"]["connector"]["state"] == "RUNNING")
        if running == want:
            break
    except (OSError, ValueError):
        pass
    if time.time() > deadline:
        sys.exit(f"not all {want} connectors RUNNING within 120 s")
    time.sleep(0.5)

def measure(path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1], times[-1]

for path in ("/", "/connectors?expand=status", "/", "/connectors?expand=status"):
    p50, p99, mx = measure(path)
    print(f"GET {path}: {n} requests, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {mx:.2f} ms")
PY
