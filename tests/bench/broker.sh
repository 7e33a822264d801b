#!/usr/bin/env bash
# Broker throughput, side by side in one run: connectd (fsync, its default), connectd
# (page-cache mode) and tansu 0.6 (memory engine), all driven by the same librdkafka client
# (`connectd perf`, acks=all, linger.ms=5, batch.size=1000000, 1 KiB records; consumers fetch
# at most 1 MiB per response), plus the two ceilings (loopback TCP, fsynced sequential write),
# idle RSS and start-up time.
#
#   cargo install tansu --features dynostore      # once, about 9 minutes
#   RUNS=3 bash tests/bench/broker.sh
#
# Before and after a change, in the same run: build the earlier commit's `connectd` (for
# example in a `git worktree`) and name it; `connectd-before` then runs beside the others
# (with fsync, as `connectd-fsync`), and the table adds each rate's ratio to it.
#
#   BEFORE=/tmp/old/target/release/connectd BROKERS="connectd-fsync connectd-before" \
#     RUNS=5 bash tests/bench/broker.sh
#
# Prints one line per measurement and a table of medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
N1=${N1:-1000000}          # records, 1 partition, 1 producer
N8=${N8:-500000}           # records per producer, 8 partitions, 2 producers
TANSU=${TANSU:-$(command -v tansu || echo /opt/tansu/bin/tansu)}
BROKERS=${BROKERS:-connectd-fsync connectd-pagecache tansu-memory}
BEFORE=${BEFORE:-}
. tests/bench/common.sh

balanced_halves() { # topic -> two comma-separated partition lists holding about half the records each
  "$CONNECTD" topics $B describe "$1" | python3 -c '
import re, sys
sizes = {int(p): int(end) - int(start) for p, start, end in
         re.findall(r"Partition: (\d+).*LogStartOffset: (\d+)\s+LogEndOffset: (\d+)", sys.stdin.read())}
halves = ([], [])
for p in sorted(sizes, key=sizes.get, reverse=True):
    min(halves, key=lambda h: sum(sizes[q] for q in h)).append(p)
print(*(",".join(map(str, sorted(h))) for h in halves))'
}

start_broker() { # name -> sets PORT, PID
  PORT=$(free_port)
  local dir=$WORK/$1; mkdir -p "$dir"
  case $1 in
    connectd-fsync) printf '[worker]\ndata_dir = "data"\n[broker]\nlisten = "127.0.0.1:%s"\n' "$PORT" > "$dir/worker.toml"
      "$CONNECTD" --config "$dir/worker.toml" 2>"$dir/log" & ;;
    connectd-pagecache) printf '[worker]\ndata_dir = "data"\n[broker]\nlisten = "127.0.0.1:%s"\n[broker.topic_defaults]\n"flush.messages" = "9223372036854775807"\n"flush.ms" = "9223372036854775807"\n' "$PORT" > "$dir/worker.toml"
      "$CONNECTD" --config "$dir/worker.toml" 2>"$dir/log" & ;;
    connectd-before) printf '[worker]\ndata_dir = "data"\n[broker]\nlisten = "127.0.0.1:%s"\n' "$PORT" > "$dir/worker.toml"
      "$BEFORE" --config "$dir/worker.toml" 2>"$dir/log" & ;;
    tansu-memory) "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" --storage-engine memory://tansu/ >"$dir/log" 2>&1 & ;;
  esac
  PID=$!
  wait_port "$PORT"
}

# This machine is a VM: the first touch of a guest page is slow (a plain dd writes ~400 MB/s
# the first time and several GB/s afterwards). Touch WARM_GB of page cache once first. Where
# the VM also returns freed memory to the host (free page reporting; see BENCHMARKS.md) this
# helps only the first broker: every broker then pays the first touch for the memory its data
# lands in (page cache for connectd, heap for tansu), and runs spread accordingly.
WARM_GB=${WARM_GB:-12}
dd if=/dev/zero of="$WORK/warm" bs=1M count=$((WARM_GB * 1024)) status=none && rm "$WORK/warm"

# Runs interleave the brokers, each on a fresh data directory, with dirty pages written back
# in between, so no broker inherits another's writeback. Each run measures the two ceilings
# first: this VM's speed drifts by 3x within minutes (BENCHMARKS.md), so every ratio to a
# ceiling is taken within its run, and the table reports the median of those ratios.
for run in $(seq "$RUNS"); do
  python3 tests/bench/ceilings.py "$WORK" | while read -r name value; do record ceiling "$name" "$value"; done
  # The brokers swap order every run, so none always runs first.
  order=$BROKERS
  [ $((run % 2)) = 0 ] && order=$(echo $BROKERS | tr ' ' '\n' | tac | tr '\n' ' ')
  for broker in $order; do
    start_broker $broker
    B="-b 127.0.0.1:$PORT"
    "$CONNECTD" topics $B create one --partitions 1 --replication-factor 1 >/dev/null
    "$CONNECTD" topics $B create eight --partitions 8 --replication-factor 1 >/dev/null
    sleep 0.5
    p1=$("$CONNECTD" perf $B produce --topic one --num-records "$N1" | mbs)
    record "$broker" produce_1p_1producer_mb_s "$p1"
    "$CONNECTD" perf $B produce --topic eight --num-records "$N8" > "$WORK/a" &
    "$CONNECTD" perf $B produce --topic eight --num-records "$N8" > "$WORK/b"
    wait %%
    record "$broker" produce_8p_2producers_mb_s "$(python3 -c "print(round($(mbs < "$WORK/a") + $(mbs < "$WORK/b"), 1))")"
    # tansu reads at 8-25 MB/s: it reads a tenth of the records (a gigabyte would take
    # minutes per run). Its consume rates are for orientation only; no target compares them.
    share=1 half=()
    [ $broker = tansu-memory ] && share=10 half=(--messages $((N8 / 10)))
    record "$broker" consume_1p_mb_s "$("$CONNECTD" perf $B consume --topic one --messages $((N1 / share)) | mbs)"
    record "$broker" consume_8p_mb_s "$("$CONNECTD" perf $B consume --topic eight --messages $((2 * N8 / share)) | mbs)"
    # The mirror of the two producers: two consumer processes, four partitions each (as a
    # two-member group would split them), each reading its partitions to their end. The
    # rate is every byte read over the slower one's time. The partitions are dealt so that
    # each consumer reads about half the records: the producers' sticky partitioner fills
    # them unevenly (73 to 237 MB in one run), and a 0-3 / 4-7 split left one consumer
    # reading alone for the last fifth of the time, which measured the partitioner's luck.
    read -r pa pb < <(balanced_halves eight)
    "$CONNECTD" perf $B consume --topic eight --partitions "$pa" "${half[@]}" > "$WORK/a" &
    "$CONNECTD" perf $B consume --topic eight --partitions "$pb" "${half[@]}" > "$WORK/b"
    wait %%
    record "$broker" consume_8p_2consumers_mb_s "$(python3 - "$WORK/a" "$WORK/b" <<'PY'
import re, sys
runs = [re.search(r"(\d+) bytes in ([\d.]+) s", open(f).read()) for f in sys.argv[1:]]
print(round(sum(int(m[1]) for m in runs) / max(float(m[2]) for m in runs) / 1e6, 1))
PY
)"
    kill "$PID"; wait "$PID" 2>/dev/null || true
    rm -rf "${WORK:?}/$broker"
    sync
  done
done

# Idle RSS right after start, and readiness with 100 partitions of existing data.
run=0
dir=$WORK/startup; mkdir -p "$dir"; PORT=$(free_port)
printf '[worker]\ndata_dir = "data"\n[broker]\nlisten = "127.0.0.1:%s"\n' "$PORT" > "$dir/worker.toml"
"$CONNECTD" --config "$dir/worker.toml" 2>/dev/null & PID=$!; wait_port "$PORT"; sleep 1
record connectd idle_rss_kb "$(ps -o rss= -p $PID | tr -d ' ')"
for t in $(seq 10); do
  "$CONNECTD" topics -b "127.0.0.1:$PORT" create "data-$t" --partitions 10 >/dev/null
  "$CONNECTD" perf -b "127.0.0.1:$PORT" produce --topic "data-$t" --num-records 20000 --record-size 512 >/dev/null
done
kill $PID; wait $PID 2>/dev/null || true
for run in $(seq "$RUNS"); do
  ms=$(python3 tests/bench/ready.py "$CONNECTD" "$dir/worker.toml" "$PORT")
  record connectd ready_ms_100_partitions "$ms"
done

echo
echo "medians over $RUNS runs:"
python3 - "$RESULTS" <<'PY'
import statistics, sys, collections
rows = collections.defaultdict(list)
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    who, what, value, run = line.split()
    rows[(who, what)].append(float(value))
    runs[int(run)][(who, what)] = float(value)
for (who, what), values in sorted(rows.items()):
    print(f"{who:20} {what:28} {statistics.median(values):10.1f}")

# Ratios taken within each run, then their median.
ratios = collections.defaultdict(list)
for run, v in runs.items():
    if run == 0:
        continue
    loopback = v[("ceiling", "loopback_tcp_mb_s")]
    lower = min(loopback, v[("ceiling", "fsync_seq_write_mb_s")])
    for broker in ("connectd-fsync", "connectd-pagecache"):
        if (broker, "consume_1p_mb_s") not in v:
            continue
        for what in ("consume_1p_mb_s", "consume_8p_mb_s", "consume_8p_2consumers_mb_s"):
            ratios[(broker, what.replace("_mb_s", "") + " / loopback")].append(v[(broker, what)] / loopback)
            if ("connectd-before", what) in v and broker == "connectd-fsync":
                ratios[(broker, what.replace("_mb_s", "") + " / before")].append(v[(broker, what)] / v[("connectd-before", what)])
        for what in ("produce_1p_1producer_mb_s", "produce_8p_2producers_mb_s"):
            short = what.replace("_mb_s", "")
            ratios[(broker, short + " / lower ceiling")].append(v[(broker, what)] / lower)
            if ("tansu-memory", what) in v:
                ratios[(broker, short + " / tansu")].append(v[(broker, what)] / v[("tansu-memory", what)])
            if ("connectd-before", what) in v and broker == "connectd-fsync":
                ratios[(broker, short + " / before")].append(v[(broker, what)] / v[("connectd-before", what)])
print("\nmedian of per-run ratios:")
for (who, what), values in sorted(ratios.items()):
    print(f"{who:20} {what:44} {statistics.median(values):6.2f}  ({' '.join(f'{x:.2f}' for x in values)})")
PY
