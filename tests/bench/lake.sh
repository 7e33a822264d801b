#!/usr/bin/env bash
# lake-sink: a topic of RECORDS (1,000,000) ~200-byte JSON records landed as snappy Parquet
# files of 100,000 records, inside a real worker and embedded broker, in one run: into a local
# folder with the sink built natively and as a WebAssembly component, and into S3 (moto's
# server on 127.0.0.1) as a component. The topic is filled first (by datagen-source, compiled
# in); each run times the sink alone, from its start until its group committed every record.
#
#   RUNS=3 bash tests/bench/lake.sh
#
# Each run also times the kernel (tests/bench/kernel: the same kind of work, JSON into Parquet
# in memory, with no connector, host or broker around it) natively and as a WASI command on the
# engine connectors get: the WebAssembly/native ratio of the code alone, the bound for the
# sink's. Prints one JSON line per run and the medians (records/s, peak RSS of the whole
# process), then the arithmetic of that bound.
#
# Before and after a change, in the same run: build the earlier commit's bench binary and
# lake-sink component (for example in a `git worktree`, with the two cargo builds below) and
# name that tree; each run then also runs the sink with its binary and component, and the
# summary adds the ratio of each rate to it.
#
#   BEFORE_TREE=/tmp/old RUNS=5 bash tests/bench/lake.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1000000}
rustup toolchain install >/dev/null
cargo build --release -q -p connectd-bench-pipeline -p connectd-bench-kernel
cargo build --release -q --target wasm32-wasip2 -p connectd-lake-sink -p connectd-bench-kernel
WORK=$(mktemp -d)
MOTO_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >/dev/null 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp target/wasm32-wasip2/release/connectd_lake_sink.wasm "$WORK/plugins/lake-sink.wasm"
BEFORE_TREE=${BEFORE_TREE:-}
BUILDS=after
if [ -n "$BEFORE_TREE" ]; then
  BUILDS="after before"
  mkdir -p "$WORK/before-plugins"
  cp "$BEFORE_TREE/target/wasm32-wasip2/release/connectd_lake_sink.wasm" "$WORK/before-plugins/lake-sink.wasm"
fi
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break; sleep 0.1; done
python3 tests/python/lake.py bucket "http://127.0.0.1:$MOTO_PORT" bench >/dev/null
bench() { # mode target [build] -> one JSON line
  local s3="" build=${3:-after} bin=target/release/connectd-bench-pipeline plugins=$WORK/plugins cache=$WORK/cache
  [ "$2" = s3 ] && s3="http://127.0.0.1:$MOTO_PORT"
  if [ "$build" = before ]; then
    bin=$BEFORE_TREE/target/release/connectd-bench-pipeline plugins=$WORK/before-plugins cache=$WORK/before-cache
  fi
  CONNECTD_BENCH_S3_ENDPOINT=$s3 "$bin" "$1" lake "$RECORDS" "$plugins" "$cache" |
    sed "s/^{/{\"target\":\"$2\",\"build\":\"$build\",/"
}
# Compile the component once (cached), and touch page cache as pipeline.sh does.
for build in $BUILDS; do bench wasm local "$build" >/dev/null; done
kernel() { # mode -> one JSON line
  if [ "$1" = native ]; then
    target/release/connectd-bench-kernel "$RECORDS"
  else
    target/release/connectd-bench-pipeline kernel target/wasm32-wasip2/release/connectd-bench-kernel.wasm "$RECORDS"
  fi | sed "s/^{/{\"mode\":\"$1\",\"target\":\"kernel\",/"
}
for run in $(seq "$RUNS"); do
  for mode_target in "native local" "wasm local" "wasm s3"; do
    # Before and after swap places every run, so neither always runs first.
    order=$BUILDS
    [ $((run % 2)) = 0 ] && order=$(echo $BUILDS | tr ' ' '\n' | tac | tr '\n' ' ')
    for build in $order; do
      bench $mode_target "$build" | tee -a "$WORK/results"
      sync
    done
  done
  kernel native | tee -a "$WORK/results"
  kernel wasm | tee -a "$WORK/results"
done
python3 - "$WORK/results" <<'PY'
import json, statistics, sys
everything = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in everything if r.get("build", "after") == "after"]
med = {}
for mode, target in (("native", "local"), ("wasm", "local"), ("wasm", "s3"), ("native", "kernel"), ("wasm", "kernel")):
    sel = [r for r in rows if r["mode"] == mode and r["target"] == target]
    med[mode, target] = statistics.median(r["records_per_s"] for r in sel)
    rss = "" if target == "kernel" else f", peak RSS {statistics.median(r['peak_rss_mb'] for r in sel):.0f} MB"
    print(f"{mode} {target}: {med[mode, target]:.0f} records/s (runs {[r['records_per_s'] for r in sel]}){rss}")
records = rows[0]["records"]
native, wasm = records / med["native", "local"], records / med["wasm", "local"]
k = med["native", "kernel"] / med["wasm", "kernel"]
kernel_native = records / med["native", "kernel"]
print(f"wasm time / native time (local): {wasm / native:.2f}x")
print(f"kernel, the code alone: wasm time / native time {k:.2f}x")
# native = host + code, wasm = host + k * code: the time the sink's code takes natively.
code = (wasm - native) / (k - 1)
print(f"the sink's code natively: {code:.3f} s of {native:.3f} s (the rest, {native - code:.3f} s, is the same native host work in both)")
print(f"a sink as lean as the kernel ({kernel_native:.3f} s natively) would be at best "
      f"{(native - code + k * kernel_native) / (native - code + kernel_native):.2f}x; 1.3x needs the code under "
      f"{0.3 * native / (k - 1):.3f} s natively")
before = [r for r in everything if r.get("build") == "before"]
for mode, target in (("native", "local"), ("wasm", "local"), ("wasm", "s3")) if before else ():
    pick = lambda rs: [r["records_per_s"] for r in rs if r["mode"] == mode and r["target"] == target]
    a, b = pick(rows), pick(before)
    # Runs alternate before/after, so each pair ran minutes apart at most.
    ratios = [x / y for x, y in zip(a, b)]
    print(f"{mode} {target}: after {statistics.median(a):.0f} rec/s, before {statistics.median(b):.0f} rec/s; "
          f"after / before per run {' '.join(f'{r:.2f}' for r in ratios)}, median {statistics.median(ratios):.2f}")
PY
