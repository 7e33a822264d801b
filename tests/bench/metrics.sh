#!/usr/bin/env bash
# What recording metrics costs: the file pipeline (file-source -> topic -> file-sink, 100-byte
# records, WebAssembly connectors, fsync on) with the Prometheus recorder installed (as
# connectd runs by default, `[api] metrics = true`) and without, taking turns in one run.
#
#   RUNS=5 bash tests/bench/metrics.sh     # RECORDS=2000000 per run by default
#
# Prints one JSON line per run, then the medians and the on/off ratio per pair of runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
RECORDS=${RECORDS:-2000000}
rustup toolchain install >/dev/null
cargo build --release -q -p connectd-bench-pipeline
cargo build --release -q --target wasm32-wasip2 -p connectd-file-source -p connectd-file-sink
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
for c in file-source file-sink; do
  cp "target/wasm32-wasip2/release/connectd_${c//-/_}.wasm" "$WORK/plugins/$c.wasm"
done
run() { # metrics(0|1) records
  CONNECTD_BENCH_METRICS=$1 CONNECTD_BENCH_INPUT_DIR="$WORK/inputs" \
    target/release/connectd-bench-pipeline wasm file "$2" "$WORK/plugins" "$WORK/cache"
}
# Warm-up: compiles the components once, writes the input file, touches page cache.
run 0 100000 >/dev/null
run 0 "$RECORDS" >/dev/null
for i in $(seq "$RUNS"); do
  order="0 1"
  [ $((i % 2)) = 0 ] && order="1 0"
  for m in $order; do
    run "$m" "$RECORDS" | tee -a "$WORK/results"
    sync
  done
done
python3 - "$WORK/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
on = [r["records_per_s"] for r in rows if r["metrics"]]
off = [r["records_per_s"] for r in rows if not r["metrics"]]
ratios = [a / b for a, b in zip(on, off)]
print(f"metrics on: median {statistics.median(on):.0f} rec/s {on}")
print(f"metrics off: median {statistics.median(off):.0f} rec/s {off}")
print(f"on / off per pair {' '.join(f'{r:.3f}' for r in ratios)}, median {statistics.median(ratios):.3f}")
PY
