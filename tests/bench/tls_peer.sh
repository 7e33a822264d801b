#!/usr/bin/env bash
# What librdkafka's producer spends over TLS against connectd, and against another TLS server:
# socat (OpenSSL) terminating TLS in front of a PLAINTEXT listener of connectd. If the client's
# CPU per byte is the same against both, its cost is its own, not one the broker makes it pay
# (BENCHMARKS.md, issue 31). Also PLAINTEXT, for the ratio; and with BEFORE_BIN (another
# connectd binary) the same TLS and PLAINTEXT runs against that build's broker, taking turns.
#
#   RUNS=5 bash tests/bench/tls_peer.sh
#   BEFORE_BIN=/tmp/connectd-old RUNS=5 bash tests/bench/tls_peer.sh
#
# Prints one line per run and server: MB/s, the client's user and system CPU seconds
# (/usr/bin/time), the broker's CPU seconds. 300,000 records of 1 KiB (N), acks=all, one client.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
N=${N:-300000}
. tests/bench/common.sh
command -v socat >/dev/null || { echo "socat is needed: apt-get install socat" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed: apt-get install time" >&2; exit 1; }
tls_certificates

HZ=$(getconf CLK_TCK)
cpu() { awk -v hz="$HZ" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# The data stays in the page cache (no fsync per batch): the network path is what is compared.
no_flush='[broker.topic_defaults]
"flush.messages" = "9223372036854775807"
"flush.ms" = "9223372036854775807"'

# broker NAME BINARY PORT BROKER_KEYS: starts a broker in $WORK/NAME with the [broker] keys
# given (and no fsync per batch), its pid in NAME/pid, and waits for PORT.
broker() {
  local dir=$WORK/$1
  mkdir "$dir"
  printf '[worker]\ndata_dir = "data"\n[broker]\n%s\n%s\n' "$4" "$no_flush" > "$dir/worker.toml"
  (cd "$dir" && exec "$2" --config worker.toml 2>log) &
  echo $! > "$dir/pid"
  wait_port "$3"
}

# start NAME BINARY: a broker with a PLAINTEXT and an SSL listener; NAME/ports holds them.
start() {
  local plain tls
  plain=$(free_port) tls=$(free_port)
  broker "$1" "$2" "$tls" "listeners = [\"PLAINTEXT://127.0.0.1:$plain\", \"SSL://127.0.0.1:$tls\"]
allow_everyone_if_no_acl_found = true
[broker.ssl]
certificate = \"$WORK/broker.pem\"
key = \"$WORK/broker.key\""
  echo "$plain $tls" > "$WORK/$1/ports"
}
start connectd "$CONNECTD"
servers="connectd socat"
if [ -n "${BEFORE_BIN:-}" ]; then start before "$BEFORE_BIN"; servers="connectd before socat"; fi

# socat: TLS by OpenSSL, forwarded to a PLAINTEXT-only connectd that advertises socat's port.
inner=$(free_port) outer=$(free_port)
broker socat "$CONNECTD" "$inner" "listeners = [\"PLAINTEXT://127.0.0.1:$inner\"]
advertised_listeners = [\"PLAINTEXT://localhost:$outer\"]"
socat "OPENSSL-LISTEN:$outer,bind=127.0.0.1,reuseaddr,fork,cert=$WORK/broker.pem,key=$WORK/broker.key,verify=0" "TCP:127.0.0.1:$inner" 2>/dev/null &
echo "- $outer" > "$WORK/socat/ports"
wait_port "$outer"

tls_args() { echo "-b localhost:$1 -X security.protocol=SSL -X ssl.ca.location=$WORK/ca.pem"; }
for run in $(seq "$RUNS"); do
  for server in $servers; do
    read -r plain tls < "$WORK/$server/ports"
    pid=$(cat "$WORK/$server/pid")
    for proto in plaintext tls; do
      [ "$server" = socat ] && [ "$proto" = plaintext ] && continue
      args="-b 127.0.0.1:$plain"
      [ "$proto" = tls ] && args=$(tls_args "$tls")
      topic="t-$run-$proto"
      # shellcheck disable=SC2086
      "$CONNECTD" topics $args create "$topic" --partitions 1 >/dev/null
      before=$(cpu "$pid")
      # shellcheck disable=SC2086
      rate=$(/usr/bin/time -o "$WORK/time" -f "%U %S" "$CONNECTD" perf $args produce --topic "$topic" --num-records "$N" 2>/dev/null | mbs)
      after=$(cpu "$pid")
      read -r user sys < "$WORK/time"
      record "$server/$proto" produce_mb_s "$rate" >/dev/null
      record "$server/$proto" client_user_s "$user" >/dev/null
      record "$server/$proto" client_system_s "$sys" >/dev/null
      record "$server/$proto" broker_s "$(echo "$after - $before" | bc)" >/dev/null
      echo "run $run $server $proto: $rate MB/s, client user $user s, system $sys s, broker $(echo "$after - $before" | bc) s"
      # shellcheck disable=SC2086
      "$CONNECTD" topics $args delete "$topic" >/dev/null
    done
  done
done

echo
echo "medians over $RUNS runs (socat's broker CPU is the PLAINTEXT connectd behind it, not socat):"
python3 - "$RESULTS" <<'PY'
import collections, statistics, sys
values = collections.defaultdict(list)
for line in open(sys.argv[1]):
    what, metric, value, _ = line.split()
    values[(what, metric)].append(float(value))
whats = sorted({w for w, _ in values})
metrics = ["produce_mb_s", "client_user_s", "client_system_s", "broker_s"]
print(f"{'server/protocol':<20}" + "".join(f"{m:>17}" for m in metrics))
for w in whats:
    print(f"{w:<20}" + "".join(f"{statistics.median(values[(w, m)]):>17.2f}" for m in metrics))
PY
