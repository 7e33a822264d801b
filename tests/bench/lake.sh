#!/usr/bin/env bash
# lake-sink: a topic of RECORDS (1,000,000) ~200-byte JSON records landed as snappy Parquet
# files of 100,000 records, inside a real worker and embedded broker, in one run: into a local
# folder with the sink built natively and as a WebAssembly component, and into S3 (moto's
# server on 127.0.0.1) as a component. The topic is filled first (by datagen-source, compiled
# in); each run times the sink alone, from its start until its group committed every record.
#
#   RUNS=3 bash tests/bench/lake.sh
#
# Prints one JSON line per run and the medians (records/s, peak RSS of the whole process).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1000000}
rustup toolchain install >/dev/null
cargo build --release -q -p connectd-bench-pipeline
cargo build --release -q --target wasm32-wasip2 -p connectd-lake-sink
WORK=$(mktemp -d)
MOTO_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >/dev/null 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp target/wasm32-wasip2/release/connectd_lake_sink.wasm "$WORK/plugins/lake-sink.wasm"
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break; sleep 0.1; done
python3 tests/python/lake.py bucket "http://127.0.0.1:$MOTO_PORT" bench >/dev/null
bench() { # mode target -> one JSON line
  local s3=""
  [ "$2" = s3 ] && s3="http://127.0.0.1:$MOTO_PORT"
  CONNECTD_BENCH_S3_ENDPOINT=$s3 target/release/connectd-bench-pipeline "$1" lake "$RECORDS" "$WORK/plugins" "$WORK/cache" |
    sed "s/^{/{\"target\":\"$2\",/"
}
# Compile the component once (cached), and touch page cache as pipeline.sh does.
bench wasm local >/dev/null
for run in $(seq "$RUNS"); do
  for mode_target in "native local" "wasm local" "wasm s3"; do
    bench $mode_target | tee -a "$WORK/results"
    sync
  done
done
python3 - "$WORK/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for mode, target in (("native", "local"), ("wasm", "local"), ("wasm", "s3")):
    sel = [r for r in rows if r["mode"] == mode and r["target"] == target]
    med[mode, target] = statistics.median(r["records_per_s"] for r in sel)
    print(f"{mode} {target}: {med[mode, target]:.0f} records/s (runs {[r['records_per_s'] for r in sel]}), "
          f"peak RSS {statistics.median(r['peak_rss_mb'] for r in sel):.0f} MB")
print(f"wasm time / native time (local): {med['native', 'local'] / med['wasm', 'local']:.2f}x")
PY
