#!/usr/bin/env bash
# SQL connector benchmarks (tests/bench/sql.py): sql-sink into PostgreSQL and MariaDB at batch
# sizes 1000 and 3000 against COPY / LOAD DATA / multi-row INSERT, and sql-source from a
# PostgreSQL table against COPY TO STDOUT, each ceiling measured in the same run.
#
#   bash tests/bench/sql.sh            # SINK_ROWS=1000000 SOURCE_ROWS=1000000 RUNS=3 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup toolchain install >/dev/null
cargo build --release -q -p connectd
cargo build --release -q --target wasm32-wasip2 -p connectd-sql-source -p connectd-sql-sink
python3 tests/bench/sql.py sink --rows "${SINK_ROWS:-1000000}" --runs "${RUNS:-3}"
python3 tests/bench/sql.py source --rows "${SOURCE_ROWS:-1000000}" --runs "${RUNS:-3}"
