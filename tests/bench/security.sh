#!/usr/bin/env bash
# Throughput over TLS and over SASL_SSL (SCRAM-SHA-512) against PLAINTEXT, in one run on one
# broker with three listeners, all driven by the same librdkafka client (`connectd perf`,
# acks=all, 1 KiB records); and the time a client takes to connect and read metadata over
# each listener, whose differences are the cost of the TLS handshake and of the SCRAM
# exchange.
#
#   RUNS=5 bash tests/bench/security.sh
#   CLIENTS=2 RUNS=5 bash tests/bench/security.sh   # two client processes at once per listener
#
# With CLIENTS=2 each listener is driven by two `connectd perf` processes at once, each on its
# own topic, and the rate is their sum: librdkafka moves one connection's bytes (and their
# encryption) on one thread, so two processes show whether that thread or the broker bounds
# TLS. Each phase also records the broker's CPU seconds (/proc/<pid>/stat), whose ratio to
# PLAINTEXT is the broker's own cost of TLS for the same bytes.
#
# The broker keeps its data in the page cache (no fsync per batch), so the network path,
# not the disk, is what the protocols are compared on. Prints one line per measurement and a
# table of medians with each rate's ratio to PLAINTEXT in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
N=${N:-1000000}
CONNECTS=${CONNECTS:-50}
CLIENTS=${CLIENTS:-1}
. tests/bench/common.sh

tls_certificates

# This VM's first touch of a guest page is slow (BENCHMARKS.md, "Broker throughput"): touch
# WARM_GB of page cache first, so no listener's run pays it alone.
WARM_GB=${WARM_GB:-8}
dd if=/dev/zero of="$WORK/warm" bs=1M count=$((WARM_GB * 1024)) status=none && rm "$WORK/warm"

PLAIN=$(free_port) TLS=$(free_port) SASL=$(free_port)
cat > "$WORK/worker.toml" <<TOML
[worker]
data_dir = "data"
[broker]
listeners = ["PLAINTEXT://127.0.0.1:$PLAIN", "SSL://127.0.0.1:$TLS", "SASL_SSL://127.0.0.1:$SASL"]
# The PLAINTEXT and SSL clients are User:ANONYMOUS; no ACLs here, everyone may.
allow_everyone_if_no_acl_found = true
[broker.topic_defaults]
"flush.messages" = "9223372036854775807"
"flush.ms" = "9223372036854775807"
[broker.ssl]
certificate = "broker.pem"
key = "broker.key"
[broker.sasl]
admin_user = "bench"
admin_password = "bench-password"
TOML
"$CONNECTD" --config "$WORK/worker.toml" 2>"$WORK/log" &
BROKER_PID=$!
wait_port "$SASL"
# The broker's user+system CPU seconds so far.
broker_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$BROKER_PID/stat"; }
# Runs `connectd perf <kind>` CLIENTS times at once over listener $1, client i on topic $3-i;
# prints the sum of their MB/s, then records the broker's CPU seconds for the phase.
perf_all() {
  local proto=$1 kind=$2 topic=$3 before after i
  before=$(broker_cpu)
  local started ended
  started=$(date +%s.%N)
  for i in $(seq "$CLIENTS"); do
    # Each client's user+system CPU seconds (bash's `time`) go to cpu-$i.
    # shellcheck disable=SC2046
    { TIMEFORMAT='%3U %3S'; time case $kind in
      produce) "$CONNECTD" perf $(args "$proto") produce --topic "$topic-$i" --num-records "$N" ;;
      consume) "$CONNECTD" perf $(args "$proto") consume --topic "$topic-$i" --messages "$N" ;;
    esac > "$WORK/perf-$i" 2>/dev/null; } 2> "$WORK/cpu-$i" &
  done
  wait  # the clients (this runs in a subshell: the broker is not its child)
  after=$(broker_cpu)
  ended=$(date +%s.%N)
  record "$proto" "broker_cpu_${kind}_s" "$(echo "$after - $before" | bc -l)" >&2
  record "$proto" "client_cpu_${kind}_s" "$(cat "$WORK"/cpu-* | awk '{ s += $1 + $2 } END { printf "%.3f", s }')" >&2
  # Both cores' share in use over the phase: (clients' CPU + broker's CPU) / wall time.
  record "$proto" "cores_busy_${kind}" "$(cat "$WORK"/cpu-* | awk -v b="$(echo "$after - $before" | bc -l)" -v w="$(echo "$ended - $started" | bc -l)" '{ s += $1 + $2 } END { printf "%.2f", (s + b) / w }')" >&2
  cat "$WORK"/perf-* | mbs | paste -sd+ | bc -l
  rm -f "$WORK"/perf-* "$WORK"/cpu-*
}

args() { # protocol -> bootstrap and -X properties
  case $1 in
    plaintext) echo "-b 127.0.0.1:$PLAIN" ;;
    tls) echo "-b localhost:$TLS -X security.protocol=SSL -X ssl.ca.location=$WORK/ca.pem" ;;
    sasl_ssl) echo "-b localhost:$SASL -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=bench -X sasl.password=bench-password -X ssl.ca.location=$WORK/ca.pem" ;;
  esac
}

for run in $(seq "$RUNS"); do
  order="plaintext tls sasl_ssl"
  [ $((run % 2)) = 0 ] && order="sasl_ssl tls plaintext"
  for proto in $order; do
    topic="t-$proto-$run"
    for i in $(seq "$CLIENTS"); do
      # shellcheck disable=SC2046
      "$CONNECTD" topics $(args $proto) create "$topic-$i" --partitions 1 >/dev/null
    done
    record "$proto" produce_mb_s "$(perf_all "$proto" produce "$topic")"
    record "$proto" consume_mb_s "$(perf_all "$proto" consume "$topic")"
    for i in $(seq "$CLIENTS"); do
      # shellcheck disable=SC2046
      "$CONNECTD" topics $(args $proto) delete "$topic-$i" >/dev/null
    done
  done
  # Connect and read metadata, CONNECTS times per protocol, with a fresh client each time.
  python3 - "$WORK" "$PLAIN" "$TLS" "$SASL" "$CONNECTS" <<'PY' | while read -r proto ms; do record "$proto" connect_ms "$ms"; done
import statistics, sys, time
from confluent_kafka.admin import AdminClient
work, plain, tls, sasl, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
confs = {
    "plaintext": {"bootstrap.servers": f"127.0.0.1:{plain}"},
    "tls": {"bootstrap.servers": f"localhost:{tls}", "security.protocol": "SSL", "ssl.ca.location": f"{work}/ca.pem"},
    "sasl_ssl": {"bootstrap.servers": f"localhost:{sasl}", "security.protocol": "SASL_SSL", "ssl.ca.location": f"{work}/ca.pem",
                 "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "bench", "sasl.password": "bench-password"},
}
for proto, conf in confs.items():
    times = []
    for _ in range(n):
        t = time.perf_counter()
        AdminClient(conf).list_topics(timeout=10)
        times.append((time.perf_counter() - t) * 1000)
    print(proto, round(statistics.median(times), 2))
PY
done

echo
echo "medians over $RUNS runs, $CLIENTS client process(es) per listener (ratio: to PLAINTEXT in the same run, median of the runs' ratios):"
python3 - "$RESULTS" <<'PY'
import collections, statistics, sys
values = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    proto, metric, value, run = line.split()
    values[(proto, metric)][run] = float(value)
print(f"{'listener':<10} {'metric':<14} {'median':>9} {'ratio':>6}")
for (proto, metric), per_run in sorted(values.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    base = values[("plaintext", metric)]
    ratios = [per_run[r] / base[r] for r in per_run if base.get(r)]
    ratio = f"{statistics.median(ratios):.2f}" if proto != "plaintext" else ""
    print(f"{proto:<10} {metric:<14} {statistics.median(per_run.values()):>9.2f} {ratio:>6}")
PY
