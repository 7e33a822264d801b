#!/usr/bin/env bash
# A worker over the wire against librdkafka and against the same connectors in-process
# (tests/bench/wire.py says what each measurement is).
#
#   RUNS=3 RECORDS=300000 bash tests/bench/wire.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup toolchain install >/dev/null
cargo build --release -q -p connectd
cargo build --release -q --target wasm32-wasip2 -p connectd-datagen-source -p connectd-file-sink
python3 tests/bench/wire.py
