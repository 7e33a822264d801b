#!/usr/bin/env python3
"""SQL connector benchmarks against the machine's PostgreSQL and MariaDB, one task each, with
the database's own bulk path measured in the same run as the ceiling.

    python3 tests/bench/sql.py sink [--rows 1000000] [--runs 3]
    python3 tests/bench/sql.py source [--rows 1000000] [--runs 3]

Run after `cargo build --release -p connectd` and
`cargo build --release --target wasm32-wasip2 -p connectd-sql-source -p connectd-sql-sink`
(tests/bench/sql.sh does both, then runs both). Needs psql and mysql (the machine's clients)
and confluent-kafka (tests/setup installs it).

sink: `--rows` JSON records of about 100 bytes ({"id","name","amount","flag","note"}, keyed
by id) in one topic; per run, per database, per batch size (1000 and 3000), a new sql-sink
connector (its own consumer group, so it reads the topic from the start) inserts them into a
new table (pk.mode = record_value, insert.mode = insert); rows/s from the connector file
appearing to its group committing the last offset (it commits after each put's transaction;
the table's count is checked after). Ceilings in the same run, on the same rows:
PostgreSQL `COPY ... FROM STDIN` (psql's \\copy of a CSV file); MariaDB the faster of
`LOAD DATA LOCAL INFILE` and multi-row INSERTs of the same batch size in one transaction.

source: a PostgreSQL table of `--rows` rows (id, name, amount numeric(12,2), flag, note,
at timestamptz); per run, a new sql-source connector (mode incrementing, batch.max.rows 5000)
reads it into a new topic; rows/s from the file appearing to the topic's end offset reaching
`--rows`. Ceiling in the same run: `COPY bench_source TO STDOUT` into /dev/null.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from cluster import free_port, wait_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CONNECTD_BIN", os.path.join(ROOT, "target", "release", "connectd"))
WASM = os.path.join(ROOT, "target", "wasm32-wasip2", "release")
os.environ.setdefault("PGOPTIONS", "-c client_min_messages=warning")
PG_URL = "postgres://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql://root@127.0.0.1:3306/test"



def psql(sql, stdout=subprocess.DEVNULL):
    subprocess.run(["psql", "-qAt", "-h", "127.0.0.1", "-U", "postgres", "test", "-v", "ON_ERROR_STOP=1", "-c", sql],
                   check=True, stdout=stdout)


def psql_value(sql):
    out = subprocess.run(["psql", "-qAt", "-h", "127.0.0.1", "-U", "postgres", "test", "-c", sql],
                         capture_output=True, text=True)
    return out.stdout.strip()


def mysql(sql=None, stdin=None, value=False):
    args = ["mysql", "--local-infile=1", "-h", "127.0.0.1", "-u", "root", "-N", "-B", "test"]
    if sql is not None:
        args += ["-e", sql]
    out = subprocess.run(args, stdin=stdin, capture_output=True, text=True)
    if out.returncode != 0 and not value:
        raise SystemExit(f"mysql failed: {out.stderr}")
    return out.stdout.strip()


class Worker:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="connectd-sql-bench-")
        os.makedirs(os.path.join(self.dir, "plugins"))
        os.makedirs(os.path.join(self.dir, "connectors.d"))
        for name in ["sql-source", "sql-sink"]:
            shutil.copy(os.path.join(WASM, name.replace("-", "_").replace("sql_", "connectd_sql_") + ".wasm"),
                        os.path.join(self.dir, "plugins", name + ".wasm"))
        self.port, self.api = free_port(), free_port()
        with open(os.path.join(self.dir, "worker.toml"), "w") as f:
            f.write(f'[worker]\ndata_dir = "data"\nplugin_dir = "plugins"\nconnectors_dir = "connectors.d"\n'
                    f'[api]\nlisten = "127.0.0.1:{self.api}"\n'
                    f'[broker]\nlisten = "127.0.0.1:{self.port}"\ngroup_initial_rebalance_delay_ms = 100\n')
        self.log = open(os.path.join(self.dir, "connectd.log"), "w")
        self.proc = subprocess.Popen([BIN, "--config", "worker.toml"], cwd=self.dir, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        wait_port(self.api)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def connector(self, name, text):
        path = os.path.join(self.dir, "connectors.d", name + ".toml")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
        return path

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def rows(n):
    for i in range(1, n + 1):
        yield i, f"user_{i % 9973}", round(i * 0.37 % 10000, 2), i % 2 == 0, "x" * 40


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def committed(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offset = c.committed([TopicPartition(topic, 0)], timeout=5)[0].offset
        return max(offset, 0)
    finally:
        c.close()


def wait_count(count, n, timeout=600):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if count() >= n:
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out at {count()} of {n}")


def bench_sink(args):
    w = Worker()
    try:
        topic = "bench-sink"
        p = Producer({"bootstrap.servers": w.bootstrap, "linger.ms": 20, "batch.size": 1 << 20})
        for i, name, amount, flag, note in rows(args.rows):
            value = f'{{"id":{i},"name":"{name}","amount":{amount},"flag":{str(flag).lower()},"note":"{note}"}}'
            p.produce(topic, key=f'{{"id":{i}}}', value=value)
            if i % 100_000 == 0:
                p.flush()
        p.flush()
        tmp = tempfile.mkdtemp(prefix="connectd-sql-bench-data-")
        csv = os.path.join(tmp, "rows.csv")
        with open(csv, "w") as f:
            for i, name, amount, flag, note in rows(args.rows):
                f.write(f"{i},{name},{amount},{1 if flag else 0},{note}\n")
        inserts = {}
        for batch in (1000, 3000):
            path = os.path.join(tmp, f"insert-{batch}.sql")
            with open(path, "w") as f:
                f.write("SET autocommit = 0;\n")
                chunk = []
                for i, name, amount, flag, note in rows(args.rows):
                    chunk.append(f"({i},'{name}',{amount},{1 if flag else 0},'{note}')")
                    if len(chunk) == batch:
                        f.write(f"INSERT INTO __T__ VALUES {','.join(chunk)};\n")
                        chunk = []
                if chunk:
                    f.write(f"INSERT INTO __T__ VALUES {','.join(chunk)};\n")
                f.write("COMMIT;\n")
            inserts[batch] = path
        ddl = "(id BIGINT PRIMARY KEY, name TEXT, amount DOUBLE PRECISION, flag BOOLEAN, note TEXT)"
        my_ddl = ddl.replace("DOUBLE PRECISION", "DOUBLE").replace("name TEXT", "name LONGTEXT").replace(
            "note TEXT", "note LONGTEXT")
        results = {}
        n = args.rows
        for run in range(args.runs):
            for db in ("postgres", "mariadb"):
                for batch in (1000, 3000):
                    table = f"bench_{db}_{batch}_{run}_{os.getpid()}"
                    if db == "postgres":
                        psql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} {ddl}")
                        count = lambda: int(psql_value(f"SELECT count(*) FROM {table}") or 0)
                    else:
                        mysql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} {my_ddl} DEFAULT CHARSET utf8mb4")
                        count = lambda: int(mysql(f"SELECT count(*) FROM {table}", value=True) or 0)
                    url = PG_URL if db == "postgres" else MARIADB_URL
                    start = time.perf_counter()
                    path = w.connector(table, f'plugin = "sql-sink"\ntopics = "{topic}"\n"connection.url" = "{url}"\n'
                                              f'"table.name.format" = "{table}"\n"pk.mode" = "record_value"\n'
                                              f'"pk.fields" = "id"\n"batch.size" = {batch}\n')
                    # The sink commits its group's offsets after each put's transaction: all
                    # committed means all in the table (counted once, after).
                    wait_count(lambda: committed(w.bootstrap, f"connect-{table}", topic), n)
                    secs = time.perf_counter() - start
                    assert count() == n, f"{table}: {count()} rows of {n}"
                    rss = w.rss_kib()
                    os.remove(path)
                    results.setdefault((db, batch, "sink"), []).append(n / secs)
                    print(f"run {run} {db} batch {batch}: sql-sink {n / secs:,.0f} rows/s ({secs:.2f} s), worker RSS {rss / 1024:.0f} MiB",
                          flush=True)
                    # The ceiling, on the same rows, right after.
                    ceiling = f"{table}_ceiling"
                    if db == "postgres":
                        psql(f"DROP TABLE IF EXISTS {ceiling}; CREATE TABLE {ceiling} {ddl}")
                        secs = timed(lambda: psql(f"\\copy {ceiling} FROM '{csv}' WITH (FORMAT csv)"))
                        results.setdefault((db, batch, "ceiling"), []).append(n / secs)
                        print(f"run {run} {db}: COPY FROM STDIN {n / secs:,.0f} rows/s ({secs:.2f} s)", flush=True)
                        psql(f"DROP TABLE {ceiling}; DROP TABLE {table}")
                    else:
                        mysql(f"DROP TABLE IF EXISTS {ceiling}; CREATE TABLE {ceiling} {my_ddl} DEFAULT CHARSET utf8mb4")
                        load = timed(lambda: mysql(
                            f"LOAD DATA LOCAL INFILE '{csv}' INTO TABLE {ceiling} FIELDS TERMINATED BY ','"))
                        loaded = int(mysql(f"SELECT count(*) FROM {ceiling}", value=True) or 0)
                        mysql(f"DROP TABLE {ceiling}; CREATE TABLE {ceiling} {my_ddl} DEFAULT CHARSET utf8mb4")
                        sql = open(inserts[batch]).read().replace("__T__", ceiling)
                        multi = timed(lambda: subprocess.run(
                            ["mysql", "-h", "127.0.0.1", "-u", "root", "test"], input=sql, text=True, check=True))
                        best = min(load if loaded == n else float("inf"), multi)
                        results.setdefault((db, batch, "ceiling"), []).append(n / best)
                        print(f"run {run} {db} batch {batch}: LOAD DATA {n / load:,.0f} rows/s"
                              f"{'' if loaded == n else ' (refused)'}, multi-row INSERT {n / multi:,.0f} rows/s",
                              flush=True)
                        mysql(f"DROP TABLE {ceiling}; DROP TABLE {table}")
        print(f"\nmedians of {args.runs} runs, {n:,} rows:")
        for db in ("postgres", "mariadb"):
            for batch in (1000, 3000):
                sink = statistics.median(results[(db, batch, "sink")])
                ceiling = statistics.median(results[(db, batch, "ceiling")])
                ratios = [s / c for s, c in zip(results[(db, batch, "sink")], results[(db, batch, "ceiling")])]
                print(f"{db:8} batch {batch}: sql-sink {sink:,.0f} rows/s, ceiling {ceiling:,.0f} rows/s, "
                      f"ratio {sink / ceiling:.2f} (per run {', '.join(f'{r:.2f}' for r in ratios)})")
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        w.stop()


def bench_source(args):
    n = args.rows
    psql("DROP TABLE IF EXISTS bench_source; CREATE TABLE bench_source (id bigserial PRIMARY KEY, name text, "
         "amount numeric(12,2), flag boolean, note text, at timestamptz)")
    psql(f"INSERT INTO bench_source (name, amount, flag, note, at) SELECT 'user_' || (g % 9973), "
         f"round((g * 0.37)::numeric % 10000, 2), g % 2 = 0, repeat('x', 40), now() FROM generate_series(1, {n}) g")
    psql("VACUUM ANALYZE bench_source")
    w = Worker()
    results = {"source": [], "ceiling": []}
    try:
        for run in range(args.runs):
            # A client of its own each run: librdkafka caches a topic it found missing.
            c = Consumer({"bootstrap.servers": w.bootstrap, "group.id": f"bench-watch-{run}"})
            prefix = f"src{run}-"
            start = time.perf_counter()
            path = w.connector(f"source{run}", f'plugin = "sql-source"\n"connection.url" = "{PG_URL}"\n'
                                               f'mode = "incrementing"\n"incrementing.column.name" = "id"\n'
                                               f'"table.include.list" = "bench_source"\n"topic.prefix" = "{prefix}"\n'
                                               f'"batch.max.rows" = 5000\n"poll.batch.size" = 5000\n')

            def end():
                try:
                    return c.get_watermark_offsets(TopicPartition(prefix + "bench_source", 0), timeout=5)[1]
                except Exception:
                    return 0

            wait_count(end, n)
            secs = time.perf_counter() - start
            rss = w.rss_kib()
            os.remove(path)
            results["source"].append(n / secs)
            copy = timed(lambda: subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "test", "-c", "COPY bench_source TO STDOUT"],
                stdout=subprocess.DEVNULL, check=True))
            results["ceiling"].append(n / copy)
            print(f"run {run}: sql-source {n / secs:,.0f} rows/s ({secs:.2f} s, worker RSS {rss / 1024:.0f} MiB), "
                  f"COPY TO STDOUT {n / copy:,.0f} rows/s ({copy:.2f} s)", flush=True)
            c.close()
        s, ceiling = statistics.median(results["source"]), statistics.median(results["ceiling"])
        print(f"\nmedians of {args.runs} runs, {n:,} rows: sql-source {s:,.0f} rows/s, COPY TO STDOUT "
              f"{ceiling:,.0f} rows/s, ratio {s / ceiling:.2f}")
    finally:
        w.stop()
        psql("DROP TABLE bench_source")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["sink", "source"])
    ap.add_argument("--rows", type=int)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.what == "sink":
        args.rows = args.rows or 1_000_000
        bench_sink(args)
    else:
        args.rows = args.rows or 1_000_000
        bench_source(args)


if __name__ == "__main__":
    main()
