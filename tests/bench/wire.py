#!/usr/bin/env python3
"""A worker over the wire against librdkafka and against the same connector in-process (issue 30).

    RUNS=3 RECORDS=300000 python3 tests/bench/wire.py

Run after `cargo build --release -p connectd` and
`cargo build --release --target wasm32-wasip2 -p connectd-datagen-source -p connectd-file-sink`
(tests/bench/wire.sh does both, then runs this).

One connectd serves the broker (worker 1, its connectors in-process); a second connectd,
`mode = "kafka"`, reaches it over loopback (worker 2, its own internal topic names). Each run
measures, in turn, RECORDS records of 200 bytes:

- produce: `connectd perf produce` (librdkafka, acks=all) into a 1-partition topic;
- source, wire / in-process: a datagen source (`rate = 0`, 1 task) on worker 2 / worker 1 into
  a 1-partition topic, and with 4 tasks into 4 partitions; records/s from the first record in
  the topic to the last (end offsets polled every 20 ms);
- consume: `connectd perf consume` of the produced topic;
- sink, wire / in-process: a file-sink (1 task) on worker 2 / worker 1 reading that topic from
  the beginning; records/s from its first byte written to its last (file size polled every
  20 ms), then its lines are counted.

Prints one line per measurement and run, then the medians and each run's ratios (median):
source over the wire against produce, sink over the wire against consume, over the wire
against in-process. Each line also has the CPU time each process spent per record over the
measurement (from /proc: the broker's connectd, the wire worker's, and `connectd perf`'s),
and the medians show what the two cores allow: a path that keeps both cores busy runs at
most 2 s / (its CPU seconds per record). A sink's line also has its plugin thread's CPU
(`put-...`: transforms, put, flush; and its kernel share), what the same bytes cost one
thread written into new page cache right after, and the summary, for each run, what the
machine allows a sink over the wire: two cores busy with the consumer's CPU per record plus
the plugin's, and at most one core for the plugin's thread.

ONLY=sink (or source) runs only that path's measurements, with produce and consume.

WARM_GB (default 8) GiB of page cache are written and deleted first, as security.sh does: this
VM's first touch of a guest page is slow (BENCHMARKS.md, "Broker throughput"), and a file
sink's writes would otherwise pay it where the consumer, which writes nothing, does not.
"""
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

from cluster import BIN, WASM, free_port, wait_port

RUNS = int(os.environ.get("RUNS", "3"))
RECORDS = int(os.environ.get("RECORDS", "300000"))
BATCH = int(os.environ.get("POLL_BATCH", "1000"))
# ONLY=sink or ONLY=source: that path's measurements only (with produce and consume).
ONLY = os.environ.get("ONLY", "")
# KAFKA='"fetch.queue.backoff.ms" = "1"': librdkafka properties for the wire worker ([kafka]).
KAFKA = os.environ.get("KAFKA", "")


class Worker:
    def __init__(self, root, name, broker):
        self.dir = os.path.join(root, name)
        self.connectors = os.path.join(self.dir, "connectors.d")
        os.makedirs(os.path.join(self.dir, "plugins"))
        os.makedirs(self.connectors)
        for plugin, wasm in [("datagen-source", "connectd_datagen_source.wasm"),
                             ("file-sink", "connectd_file_sink.wasm")]:
            shutil.copy(os.path.join(WASM, wasm), os.path.join(self.dir, "plugins", plugin + ".wasm"))
        api = free_port()
        self.broker_port = free_port() if broker is None else None
        if broker is None:
            broker_section = f'listen = "127.0.0.1:{self.broker_port}"\n'
            topics = ""
        else:
            broker_section = f'mode = "kafka"\nbootstrap_servers = "{broker}"\n'
            topics = ('offset_storage_topic = "wire-offsets"\nstatus_storage_topic = "wire-status"\n'
                      'config_storage_topic = "wire-configs"\n')
        with open(os.path.join(self.dir, "worker.toml"), "w") as f:
            f.write(f'[worker]\ndata_dir = "data"\nplugin_dir = "plugins"\nconnectors_dir = "connectors.d"\n{topics}'
                    f'[api]\nlisten = "127.0.0.1:{api}"\n[broker]\n{broker_section}'
                    + (f'[kafka]\n{KAFKA}\n' if broker and KAFKA else ''))
        self.proc = subprocess.Popen([BIN, "--config", os.path.join(self.dir, "worker.toml")],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "connectd.log"), "w"))
        if self.broker_port:
            wait_port(self.broker_port)
        wait_port(api)

    def connector(self, name, text):
        path = os.path.join(self.connectors, name + ".toml")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
        return path

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User and system CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def threads_user_system(pid):
    """(name, user CPU seconds, system CPU seconds) of each thread of a process."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        yield stat.split("(", 1)[1].rsplit(")", 1)[0], int(fields[11]) / TICK, int(fields[12]) / TICK


def threads_cpu_seconds(pid):
    """CPU seconds of each thread of a process, summed by thread name."""
    total = {}
    for name, user, system in threads_user_system(pid):
        total[name] = total.get(name, 0.0) + user + system
    return total


def thread_cpu_seconds(pid, prefix):
    """User and system CPU seconds of the threads of a process whose names start with `prefix`."""
    ours = [(u, s) for name, u, s in threads_user_system(pid) if name.startswith(prefix)]
    return sum(u for u, _ in ours), sum(s for _, s in ours)


def new_page_cache_seconds(folder, size):
    """Seconds one thread takes to write `size` bytes into a new file, 1 MiB a write (as the
    file sink appends), not synced: the kernel's share of a file sink's put, page-cache
    pages taken fresh. This VM's balloon hands freed guest pages back to the host within
    seconds, so a page the guest touches again costs a host fault (BENCHMARKS.md)."""
    path = os.path.join(folder, "page-cache-probe")
    block = b"x" * (1 << 20)
    started = time.monotonic()
    with open(path, "wb", buffering=0) as f:
        for _ in range(size // len(block)):
            f.write(block)
    took = time.monotonic() - started
    os.remove(path)
    return took


# The user and system CPU seconds the last sink's plugin thread (`put-...`) spent, read
# before it ends.
PUT_SECONDS = {}


def snapshot(w1, w2):
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"broker": cpu_seconds(w1.proc.pid), "wire worker": cpu_seconds(w2.proc.pid),
            "perf": children.ru_utime + children.ru_stime}


def cli(broker, *args):
    return subprocess.run([BIN, *args, "--bootstrap-server", broker], check=True,
                          capture_output=True, text=True).stdout


def rate_of(out):
    """records/s from `connectd perf`'s last line."""
    last = out.strip().splitlines()[-1]
    return float(last.split(" records/s")[0].split()[-1].replace(",", ""))


def ends(consumer, topic, partitions):
    from confluent_kafka import TopicPartition
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
               for p in range(partitions))


def source(worker, broker, watcher, topic, tasks):
    cli(broker, "topics", "create", "--topic", topic, "--partitions", str(tasks))
    per_task = RECORDS // tasks
    total = per_task * tasks
    path = worker.connector(topic, f'plugin = "datagen-source"\ntopic = "{topic}"\n"tasks.max" = {tasks}\n'
                                   f'rate = 0\niterations = {per_task}\n"record.bytes" = 200\n'
                                   f'"poll.batch.size" = {BATCH}\n')
    start = None
    deadline = time.time() + 600
    while time.time() < deadline:
        done = ends(watcher, topic, tasks)
        now = time.monotonic()
        if start is None and done > 0:
            start = (now, done)
        if done >= total:
            break
        time.sleep(0.02)
    else:
        raise SystemExit(f"{topic}: {done} of {total} records after 600 s")
    os.remove(path)
    return (total - start[1]) / (now - start[0])


def sink(worker, topic, out):
    put_before = thread_cpu_seconds(worker.proc.pid, "put-")
    threads_before = threads_cpu_seconds(worker.proc.pid)
    path = worker.connector(os.path.basename(out), f'plugin = "file-sink"\ntopics = "{topic}"\nfile = "{out}"\n')
    first = last = None
    size = 0
    deadline = time.time() + 600
    while time.time() < deadline:
        now = time.monotonic()
        grown = os.path.getsize(out) if os.path.exists(out) else 0
        if grown > size:
            first = first or now
            last, size = now, grown
        elif first and now - last > 2:
            break
        time.sleep(0.02)
    put_after = thread_cpu_seconds(worker.proc.pid, "put-")
    PUT_SECONDS["last"] = [a - b for a, b in zip(put_after, put_before)]
    # Each thread's share of a core while the sink wrote: which one the others wait for.
    busy = {name: (v - threads_before.get(name, 0.0)) / (last - first)
            for name, v in threads_cpu_seconds(worker.proc.pid).items()}
    print(json.dumps({"sink threads, cores busy": {k: round(v, 2) for k, v in sorted(busy.items()) if v >= 0.05}}),
          flush=True)
    os.remove(path)
    with open(out, "rb") as f:
        lines = sum(1 for _ in f)
    if lines != RECORDS:
        raise SystemExit(f"{out}: {lines} lines, expected {RECORDS}")
    return RECORDS / (last - first)


def one_run(run, results, cpus):
    from confluent_kafka import Consumer
    root = tempfile.mkdtemp(prefix="connectd-wire-")
    w1 = Worker(root, "local", None)
    broker = f"127.0.0.1:{w1.broker_port}"
    w2 = Worker(root, "wire", broker)
    watcher = Consumer({"bootstrap.servers": broker, "group.id": "wire-watermarks"})
    try:
        def note(what, measure):
            before = snapshot(w1, w2)
            rate = measure()
            after = snapshot(w1, w2)
            # CPU microseconds per record, by process, and in all.
            per = {k: (after[k] - before[k]) * 1e6 / RECORDS for k in after}
            per["all"] = sum(per.values())
            # A sink's plugin thread: its transforms, put and flush (part of its process's).
            put = PUT_SECONDS.pop("last", None)
            if put is not None:
                per["plugin"] = sum(put) * 1e6 / RECORDS
                per["plugin system"] = put[1] * 1e6 / RECORDS
                # Right after the sink: what the same bytes cost one thread to write into new
                # page cache now.
                per["new page cache"] = new_page_cache_seconds(root, RECORDS * 201) * 1e6 / RECORDS
            results.setdefault(what, []).append(rate)
            cpus.setdefault(what, []).append(per)
            print(json.dumps({"run": run, "what": what, "records_per_s": round(rate),
                              "cpu_us_per_record": {k: round(v, 3) for k, v in per.items()}}),
                  flush=True)

        cli(broker, "topics", "create", "--topic", "produced", "--partitions", "1")
        note("produce", lambda: rate_of(cli(broker, "perf", "produce", "--topic", "produced", "--num-records",
                                            str(RECORDS), "--record-size", "200", "--acks", "all")))
        note("consume", lambda: rate_of(cli(broker, "perf", "consume", "--topic", "produced")))
        order = [("wire", w2), ("in-process", w1)]
        if run % 2:
            order.reverse()
        for where, worker in order:
            if ONLY in ("", "source"):
                note(f"source 1 task, {where}", lambda: source(worker, broker, watcher, f"src1-{where}", 1))
                note(f"source 4 tasks, {where}", lambda: source(worker, broker, watcher, f"src4-{where}", 4))
            if ONLY in ("", "sink"):
                note(f"sink, {where}", lambda: sink(worker, "produced", os.path.join(root, f"sink-{where}.txt")))
    finally:
        watcher.close()
        w2.stop()
        w1.stop()
        if os.environ.get("KEEP"):
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


def warm_page_cache():
    """Writes and deletes WARM_GB GiB, so the page cache's pages have been touched once."""
    gib = int(os.environ.get("WARM_GB", "8"))
    if gib <= 0:
        return
    with tempfile.NamedTemporaryFile(prefix="connectd-warm-") as f:
        block = b"\0" * (1 << 20)
        for _ in range(gib * 1024):
            f.write(block)
        f.flush()


def main():
    results, cpus = {}, {}
    warm_page_cache()
    for run in range(RUNS):
        one_run(run, results, cpus)
    print(f"\nmedians of {RUNS} runs, {RECORDS} records of 200 B, poll.batch.size {BATCH}:")
    print(f"  {'':<28} {'records/s':>12}   CPU us/record: broker, wire worker, perf, all;"
          " 2 cores allow")
    for what, rates in results.items():
        per = {k: statistics.median(c[k] for c in cpus[what]) for k in cpus[what][0]}
        print(f"  {what:<28} {statistics.median(rates):>12,.0f}   {per['broker']:.3f}, "
              f"{per['wire worker']:.3f}, {per['perf']:.3f}, {per['all']:.3f}; "
              f"{2e6 / per['all']:>12,.0f}")
    ratios = [(a, b) for a, b in [
        ("source 1 task, wire", "produce"),
        ("source 4 tasks, wire", "produce"),
        ("sink, wire", "consume"),
        ("source 1 task, wire", "source 1 task, in-process"),
        ("sink, wire", "sink, in-process"),
    ] if a in results and b in results]
    print("ratios (median of each run's ratio):")
    for a, b in ratios:
        r = statistics.median(x / y for x, y in zip(results[a], results[b]))
        print(f"  {a} / {b}: {r:.3f}")
    if "sink, wire" not in results:
        return
    # What the machine allows a sink over the wire, each run against its own consumer:
    # - two cores: at least the consumer's work (client and broker) plus its plugin's, per
    #   record, with both cores busy all the time;
    # - one core: a task's plugin runs on one thread, so never faster than one record per its
    #   plugin's CPU a record (on this VM mostly the kernel's, writing into new page cache).
    print("  sink over the wire against what the machine allows it (per run):")
    bounds = []
    for run, (sink_rate, consume_rate, c, w) in enumerate(
            zip(results["sink, wire"], results["consume"], cpus["consume"], cpus["sink, wire"])):
        two_cores = 2e6 / (c["all"] + w["plugin"])
        one_core = 1e6 / w["plugin"]
        bound = min(two_cores, one_core)
        bounds.append((sink_rate / consume_rate, bound / consume_rate, sink_rate / bound))
        print(f"    run {run}: consumer {c['all']:.3f} + plugin {w['plugin']:.3f} us a record"
              f" (kernel {w['plugin system']:.3f}; {201 / w['new page cache']:,.0f} MB/s into new"
              f" page cache) -> two cores allow {two_cores:,.0f}/s, the plugin's thread"
              f" {one_core:,.0f}/s: the bound is {bound / consume_rate:.3f}x of the consumer;"
              f" the sink ran at {sink_rate / consume_rate:.3f}x, {sink_rate / bound:.3f} of the bound")
    medians = [statistics.median(b[i] for b in bounds) for i in range(3)]
    print(f"  medians: sink {medians[0]:.3f}x of the consumer, the bound {medians[1]:.3f}x,"
          f" the sink at {medians[2]:.3f} of the bound")


if __name__ == "__main__":
    main()
