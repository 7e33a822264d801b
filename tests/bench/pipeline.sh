#!/usr/bin/env bash
# Connector pipelines, with the connectors as WebAssembly components and built natively, in
# one run: datagen-source into a topic, and file-source -> topic -> file-sink, 100-byte
# records, inside a real worker and embedded broker (fsync on). Runs take turns; a warm-up run
# fills the compiled-component cache first.
#
#   RUNS=3 bash tests/bench/pipeline.sh     # RECORDS=3000000 records per run by default
#
# Prints one JSON line per run and the medians (records/s, peak RSS).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
RECORDS=${RECORDS:-3000000}
rustup toolchain install >/dev/null
cargo build --release -q -p connectd-bench-pipeline
cargo build --release -q --target wasm32-wasip2 -p connectd-datagen-source -p connectd-file-source -p connectd-file-sink
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
for c in datagen-source file-source file-sink; do
  cp "target/wasm32-wasip2/release/connectd_${c//-/_}.wasm" "$WORK/plugins/$c.wasm"
done
# This machine is a VM: the first touch of a guest page is slow, and the topic's segment files
# are new pages every run. Touch WARM_GB of page cache once (as broker.sh does), so that runs
# measure the pipeline, not the hypervisor.
WARM_GB=${WARM_GB:-4}
dd if=/dev/zero of="$WORK/warm" bs=1M count=$((WARM_GB * 1024)) status=none && rm "$WORK/warm"
BENCH=target/release/connectd-bench-pipeline
$BENCH wasm datagen 10000 "$WORK/plugins" "$WORK/cache" >/dev/null
$BENCH wasm file 10000 "$WORK/plugins" "$WORK/cache" >/dev/null
for run in $(seq "$RUNS"); do
  for pipeline in datagen file; do
    for mode in native wasm; do
      CONNECTD_BENCH_INPUT_DIR="$WORK/inputs" \
        $BENCH "$mode" "$pipeline" "$RECORDS" "$WORK/plugins" "$WORK/cache" | tee -a "$WORK/results"
      sync   # no run inherits the previous one's writeback
    done
  done
done
python3 - "$WORK/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for pipeline in ("datagen", "file"):
    for mode in ("native", "wasm"):
        sel = [r for r in rows if r["pipeline"] == pipeline and r["mode"] == mode]
        med[pipeline, mode] = (statistics.median(r["records_per_s"] for r in sel),
                               statistics.median(r["peak_rss_mb"] for r in sel),
                               [r["records_per_s"] for r in sel])
    n, w = med[pipeline, "native"], med[pipeline, "wasm"]
    print(f"{pipeline}: native {n[0]:.0f} rec/s (RSS {n[1]:.0f} MB) runs {n[2]}; "
          f"wasm {w[0]:.0f} rec/s (RSS {w[1]:.0f} MB) runs {w[2]}; wasm time / native time {n[0] / w[0]:.2f}x")
PY
