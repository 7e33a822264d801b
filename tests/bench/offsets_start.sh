#!/usr/bin/env bash
# A worker's start with a long-lived offsets topic, before and after compaction: the topic
# `connectd-offsets` gets RECORDS offset records (as a worker writes them, keys
# ["<connector>", "<hex partition>"] for KEYS source partitions), then connectd is restarted
# and the worker's replay of the topic is timed (its "loaded source offsets" log line). Then
# the cleaner runs, and the restart is timed again. Also prints the topic's size on disk.
#
#   RUNS=3 bash tests/bench/offsets_start.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1000000}
KEYS=${KEYS:-1000}
. tests/bench/common.sh

# Starts connectd in $dir with the cleaner checking every $1 ms; waits for the worker.
start() {
  cat > "$dir/worker.toml" <<TOML
[worker]
data_dir = "data"
plugin_dir = "plugins"
connectors_dir = "connectors.d"
[broker]
listen = "127.0.0.1:$port"
log_cleaner_backoff_ms = $1
TOML
  CONNECTD_LOG=info "$CONNECTD" --config "$dir/worker.toml" >> "$dir/log" 2>&1 &
  pid=$!
  wait_port "$port" 400
  for _ in $(seq 600); do grep -q "loaded source offsets" "$dir/log" && return 0; sleep 0.05; done
  echo "the worker never loaded its offsets" >&2; return 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }
loaded_ms() { grep "loaded source offsets" "$dir/log" | tail -1 | sed -n 's/.*ms=\([0-9]*\).*/\1/p'; }
size_mb() { du -sm "$dir/data/connectd-offsets-0" | cut -f1; }

for run in $(seq "$RUNS"); do
  dir=$WORK/run$run; mkdir -p "$dir/plugins" "$dir/connectors.d"; port=$(free_port)
  start 86400000
  python3 - "$RECORDS" "$KEYS" > "$dir/offsets.txt" <<'PY'
import sys
records, keys = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for i in range(records):
    k = i % keys
    out.write(f'["bench-{k % 10}","{k:08x}"]\t{{"line":{i}}}\n')
PY
  kcat -P -b 127.0.0.1:$port -t connectd-offsets -K '\t' -X linger.ms=20 < "$dir/offsets.txt"
  stop; : > "$dir/log"; start 86400000
  echo "before records=$RECORDS keys=$KEYS replay_ms=$(loaded_ms) disk_mb=$(size_mb) run=$run"
  stop; : > "$dir/log"; start 100
  for _ in $(seq 600); do grep -q "records_removed" "$dir/log" && break; sleep 0.1; done
  sleep 1
  stop; : > "$dir/log"; start 86400000
  echo "after records=$RECORDS keys=$KEYS replay_ms=$(loaded_ms) disk_mb=$(size_mb) run=$run"
  stop
done
