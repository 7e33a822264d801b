#!/usr/bin/env python3
"""Scale-out benchmarks: failover time and throughput with 1, 2 and 3 workers.

    python3 tests/bench/cluster.py failover [--kills 10] [--session-ms 6000]
    python3 tests/bench/cluster.py throughput [--records 300000]

Environment: CONNECTD_BIN (default target/release/connectd), CLUSTER_BROKER=tansu, KEEP=1 (keep
the workers' folders and logs).

Run after `cargo build --release -p connectd` and
`cargo build --release --target wasm32-wasip2 -p connectd-datagen-source -p connectd-file-sink`
(tests/bench/cluster.sh does both, then runs every measurement).

Workers: worker 1 serves the embedded broker and is a member; the others use `mode = "kafka"`
against it. Two connectors of 3 tasks each (a datagen source and a file sink).

failover: kill -9 a worker that is not the broker (each kill the next of workers 2 and 3),
then time from the kill until every task is RUNNING again on the survivors (polling
GET /connectors/<name>/status every 20 ms), restart it and wait for the 2/2/2 spread again.
Prints each time, the median and the max.

throughput: a datagen source (3 tasks, as fast as it can, `--records` in all) into a
3-partition topic, with 1, 2 and 3 workers; records/s from the first record to the last
(the topic's end offsets, polled every 50 ms).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CONNECTD_BIN", os.path.join(ROOT, "target", "release", "connectd"))
WASM = os.path.join(ROOT, "target", "wasm32-wasip2", "release")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


class Worker:
    def __init__(self, root, index, broker, session_ms):
        self.dir = os.path.join(root, f"w{index}")
        os.makedirs(os.path.join(self.dir, "plugins"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "connectors.d"), exist_ok=True)
        for name, wasm in [("datagen-source", "connectd_datagen_source.wasm"),
                           ("file-sink", "connectd_file_sink.wasm")]:
            shutil.copy(os.path.join(WASM, wasm), os.path.join(self.dir, "plugins", name + ".wasm"))
        self.api_port = free_port()
        self.id = f"127.0.0.1:{self.api_port}"
        self.broker_port = free_port() if broker is None else None
        broker_section = (f'listen = "127.0.0.1:{self.broker_port}"\ngroup_initial_rebalance_delay_ms = 200\n'
                          if broker is None else f'mode = "kafka"\nbootstrap_servers = "{broker}"\n')
        with open(os.path.join(self.dir, "worker.toml"), "w") as f:
            f.write(f'[worker]\ndata_dir = "data"\nplugin_dir = "plugins"\nconnectors_dir = "connectors.d"\n'
                    f'[api]\nlisten = "{self.id}"\n[broker]\n{broker_section}'
                    f'[cluster]\ngroup_id = "bench"\nsession_timeout_ms = {session_ms}\n')
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "connectd.log"), "a")
        self.proc = subprocess.Popen([BIN, "--config", os.path.join(self.dir, "worker.toml")],
                                     stdout=subprocess.DEVNULL, stderr=log)
        if self.broker_port:
            wait_port(self.broker_port)
        wait_port(self.api_port)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def running(api, names):
    """(connector, task) -> worker id, of RUNNING tasks."""
    out = {}
    for name in names:
        try:
            status = get(f"http://{api}/connectors/{name}/status")
        except Exception:
            continue
        for t in status["tasks"]:
            if t["state"] == "RUNNING":
                out[(name, t["id"])] = t["worker_id"]
    return out


def wait_spread(api, names, workers, total, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = running(api, names)
        counts = {w: 0 for w in workers}
        for w in now.values():
            counts[w] = counts.get(w, 0) + 1
        share = total // len(workers)
        if len(now) == total and all(counts[w] in (share, share + (1 if total % len(workers) else 0)) for w in workers):
            return now
        time.sleep(0.1)
    raise SystemExit(f"no even spread over {workers}: {running(api, names)}")


TANSU = None


def cluster(root, n, session_ms):
    """n workers: with CLUSTER_BROKER=tansu, all against a tansu broker (see the README on why
    that does not settle); else worker 1 serves the broker."""
    global TANSU
    if os.environ.get("CLUSTER_BROKER") == "tansu":
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        TANSU = subprocess.Popen(["tansu", "broker", "--listener-url", url, "--advertised-listener-url", url,
                                  "--storage-engine", "memory://tansu/"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "tansu.log"), "w"))
        wait_port(port)
        broker = f"127.0.0.1:{port}"
        first = Worker(root, 1, broker, session_ms)
    else:
        first = Worker(root, 1, None, session_ms)
        first.start()
        broker = f"127.0.0.1:{first.broker_port}"
    subprocess.run([BIN, "topics", "create", "--topic", "bench", "--partitions", "3",
                    "--bootstrap-server", broker], check=True, capture_output=True)
    if first.proc is None:
        first.start()
    rest = [Worker(root, i, broker, session_ms) for i in range(2, n + 1)]
    for w in rest:
        w.start()
    return [first] + rest, broker


def failover(args):
    root = tempfile.mkdtemp(prefix="connectd-failover-")
    workers, _ = cluster(root, 3, args.session_ms)
    try:
        sink_out = os.path.join(root, "out.txt")
        with open(os.path.join(workers[0].dir, "connectors.d", "gen.toml"), "w") as f:
            f.write('plugin = "datagen-source"\ntopic = "bench"\n"tasks.max" = 3\nrate = 200\n')
        with open(os.path.join(workers[0].dir, "connectors.d", "sink.toml"), "w") as f:
            f.write(f'plugin = "file-sink"\ntopics = "bench"\n"tasks.max" = 3\nfile = "{sink_out}"\n')
        names = ["gen", "sink"]
        ids = [w.id for w in workers]
        wait_spread(workers[0].id, names, ids, 6)
        times = []
        for k in range(args.kills):
            victim = workers[1 + k % 2]
            time.sleep(2)
            victim.kill9()
            killed = time.monotonic()
            while True:
                now = running(workers[0].id, names)
                if len(now) == 6 and victim.id not in now.values():
                    break
                if time.monotonic() - killed > 60:
                    raise SystemExit(f"tasks never moved: {now}")
                time.sleep(0.02)
            took = time.monotonic() - killed
            times.append(took)
            print(f"kill {k + 1}: all tasks running again after {took:.2f} s", flush=True)
            victim.start()
            wait_spread(workers[0].id, names, ids, 6)
        print(f"session.timeout.ms={args.session_ms}: failover median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s over {len(times)} kills")
    finally:
        for w in reversed(workers):
            w.stop()
        if TANSU:
            TANSU.kill()
        if not os.environ.get("KEEP"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept", root)


def topic_total(broker):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker, "group.id": "bench-watermarks"})
    try:
        return sum(c.get_watermark_offsets(TopicPartition("bench", p), timeout=5)[1] for p in range(3))
    finally:
        c.close()


def throughput(args):
    results = {}
    for n in (1, 2, 3):
        root = tempfile.mkdtemp(prefix="connectd-scale-")
        workers, broker = cluster(root, n, 6000)
        try:
            per_task = args.records // 3
            with open(os.path.join(workers[0].dir, "connectors.d", "gen.toml"), "w") as f:
                f.write(f'plugin = "datagen-source"\ntopic = "bench"\n"tasks.max" = 3\nrate = 0\n'
                        f'iterations = {per_task}\n"record.bytes" = 200\n"poll.batch.size" = {args.batch}\n')
            total = per_task * 3
            start = None
            deadline = time.time() + 300
            while time.time() < deadline:
                done = topic_total(broker)
                if start is None and done > 0:
                    start = (time.monotonic(), done)
                if done >= total:
                    break
                time.sleep(0.05)
            took = time.monotonic() - start[0]
            rate = (total - start[1]) / took
            spread = {}
            for w in running(workers[0].id, ["gen"]).values():
                spread[w] = spread.get(w, 0) + 1
            results[n] = rate
            print(f"{n} worker(s), poll.batch.size {args.batch}: {rate:,.0f} records/s ({total} records of ~200 B, "
                  f"tasks {sorted(spread.values())})",
                  flush=True)
        finally:
            for w in reversed(workers):
                w.stop()
            shutil.rmtree(root, ignore_errors=True)
    return results


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("failover")
    f.add_argument("--kills", type=int, default=10)
    f.add_argument("--session-ms", type=int, default=6000)
    t = sub.add_parser("throughput")
    t.add_argument("--records", type=int, default=300_000)
    t.add_argument("--batch", type=int, default=1000, help="the source's poll.batch.size")
    args = p.parse_args()
    if args.what == "failover":
        failover(args)
    else:
        throughput(args)


if __name__ == "__main__":
    sys.exit(main())
