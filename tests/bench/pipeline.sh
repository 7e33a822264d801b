#!/usr/bin/env bash
# Connector pipelines, with the connectors as WebAssembly components and built natively, in
# one run: datagen-source into a topic, and file-source -> topic -> file-sink, 100-byte
# records, inside a real worker and embedded broker (fsync on). Runs take turns; a warm-up run
# fills the compiled-component cache first.
#
#   RUNS=3 bash tests/bench/pipeline.sh     # RECORDS=3000000 records per run by default
#
# Prints one JSON line per run and the medians (records/s, peak RSS).
#
# Before and after a change, in the same run: build the earlier commit's bench binary and
# WebAssembly connectors (for example in a `git worktree`, with the two cargo builds below)
# and name that tree; each run then also runs its binary with its own plugins, and the summary
# adds the ratio of each rate to it.
#
#   BEFORE_TREE=/tmp/old RUNS=5 bash tests/bench/pipeline.sh
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
BEFORE_TREE=${BEFORE_TREE:-}
BUILDS=after
if [ -n "$BEFORE_TREE" ]; then
  BUILDS="after before"
  mkdir -p "$WORK/before-plugins"
  for c in datagen-source file-source file-sink; do
    cp "$BEFORE_TREE/target/wasm32-wasip2/release/connectd_${c//-/_}.wasm" "$WORK/before-plugins/$c.wasm"
  done
fi
bench() { # build mode pipeline records -> one JSON line, tagged with the build
  local bin=target/release/connectd-bench-pipeline plugins=$WORK/plugins cache=$WORK/cache
  if [ "$1" = before ]; then
    bin=$BEFORE_TREE/target/release/connectd-bench-pipeline plugins=$WORK/before-plugins cache=$WORK/before-cache
  fi
  CONNECTD_BENCH_INPUT_DIR="$WORK/inputs" "$bin" "$2" "$3" "$4" "$plugins" "$cache" |
    sed "s/^{/{\"build\":\"$1\",/"
}
# This machine is a VM: the first touch of a guest page is slow, and the topic's segment files
# are new pages every run. Touch WARM_GB of page cache once (as broker.sh does), so that runs
# measure the pipeline, not the hypervisor.
WARM_GB=${WARM_GB:-4}
dd if=/dev/zero of="$WORK/warm" bs=1M count=$((WARM_GB * 1024)) status=none && rm "$WORK/warm"
for build in $BUILDS; do
  bench "$build" wasm datagen 10000 >/dev/null
  bench "$build" wasm file 10000 >/dev/null
done
for run in $(seq "$RUNS"); do
  for pipeline in datagen file; do
    for mode in native wasm; do
      # Before and after swap places every run, so neither always runs first.
      order=$BUILDS
      [ $((run % 2)) = 0 ] && order=$(echo $BUILDS | tr ' ' '\n' | tac | tr '\n' ' ')
      for build in $order; do
        bench "$build" "$mode" "$pipeline" "$RECORDS" | tee -a "$WORK/results"
        sync   # no run inherits the previous one's writeback
      done
    done
  done
done
python3 - "$WORK/results" <<'PY'
import json, statistics, sys
everything = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in everything if r["build"] == "after"]
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
before = [r for r in everything if r["build"] == "before"]
for pipeline in ("datagen", "file") if before else ():
    for mode in ("native", "wasm"):
        pick = lambda rs: [r["records_per_s"] for r in rs if r["pipeline"] == pipeline and r["mode"] == mode]
        a, b = pick(rows), pick(before)
        # Runs alternate before/after, so each pair ran minutes apart at most.
        ratios = [x / y for x, y in zip(a, b)]
        print(f"{pipeline} {mode}: after {statistics.median(a):.0f} rec/s, before {statistics.median(b):.0f} rec/s; "
              f"after / before per run {' '.join(f'{r:.2f}' for r in ratios)}, median {statistics.median(ratios):.2f}")
PY
