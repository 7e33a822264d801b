#!/usr/bin/env bash
# Scale-out benchmarks (tests/bench/cluster.py): failover time over KILLS kill -9s at the
# default session timeout (6000 ms) and at 3000 ms, then one pipeline's throughput with 1, 2
# and 3 workers. Three workers on this machine: worker 1 serves the broker, the others reach it
# over loopback (mode = "kafka").
#
#   bash tests/bench/cluster.sh            # KILLS=10 RECORDS=600000 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
KILLS=${KILLS:-10}
RECORDS=${RECORDS:-600000}
rustup toolchain install >/dev/null
cargo build --release -q -p connectd
cargo build --release -q --target wasm32-wasip2 -p connectd-datagen-source -p connectd-file-sink
python3 tests/bench/cluster.py failover --kills "$KILLS" --session-ms 6000
python3 tests/bench/cluster.py failover --kills "$KILLS" --session-ms 3000
python3 tests/bench/cluster.py throughput --records "$RECORDS"
