"""GET /metrics on a worker running a datagen -> topic -> file-sink pipeline, parsed with
prometheus_client's text parser:

    python3 metrics.py API_URL BOOTSTRAP RECORDS

Checks that the task counters equal the records moved, the sink lag is 0 once it caught up,
and the broker's metrics see a confluent-kafka client's produce and fetch. Exits non-zero on
the first failed check.
"""

import sys
import time

import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

URL, BOOTSTRAP, RECORDS = sys.argv[1], sys.argv[2], int(sys.argv[3])


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def scrape():
    r = requests.get(f"{URL}/metrics")
    check(r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), "GET /metrics is Prometheus text")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples, name, **labels):
    """Sum over every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


deadline = time.time() + 60
while True:
    s = scrape()
    done = value(s, "connectd_task_records_out_total", connector="sink", task="0")
    if done == RECORDS or time.time() > deadline:
        break
    time.sleep(0.3)

check(value(s, "connectd_task_records_in_total", connector="gen", task="0") == RECORDS, "source polled every record")
check(value(s, "connectd_task_records_out_total", connector="gen", task="0") == RECORDS, "source wrote every record")
check(value(s, "connectd_task_records_in_total", connector="sink", task="0") == RECORDS, "sink read every record")
check(value(s, "connectd_task_records_out_total", connector="sink", task="0") == RECORDS, "sink put every record")
check(value(s, "connectd_task_bytes_out_total", connector="gen", task="0") > RECORDS * 50, "source bytes counted")
check(value(s, "connectd_task_record_errors_total", connector="gen", task="0") == 0, "no bad records")
batches = value(s, "connectd_task_batch_duration_seconds_count", connector="gen", task="0")
check(batches >= 1 and value(s, "connectd_task_batch_duration_seconds_bucket", connector="gen", task="0", le="+Inf") == batches, "batch latency histogram")
lag_deadline = time.time() + 10
while value(s, "connectd_sink_lag_records", connector="sink", topic="metered", partition="0") != 0 and time.time() < lag_deadline:
    time.sleep(0.3)
    s = scrape()
check(value(s, "connectd_sink_lag_records", connector="sink", topic="metered", partition="0") == 0, "sink lag 0 once caught up")

# The broker's side, seen by a client no one here wrote.
before_in = total(scrape(), "connectd_broker_bytes_in_total", topic="wire")
p = Producer({"bootstrap.servers": BOOTSTRAP})
for i in range(100):
    p.produce("wire", value=b"x" * 100)
check(p.flush(30) == 0, "produced 100 records over the wire")
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "metrics-reader", "auto.offset.reset": "earliest"})
c.assign([TopicPartition("wire", 0, 0)])
got = 0
while got < 100:
    m = c.poll(10)
    check(m is not None and m.error() is None, "fetched a record")
    got += 1
s = scrape()
check(total(s, "connectd_broker_bytes_in_total", topic="wire") >= before_in + 100 * 100, "broker bytes in counted per topic")
check(total(s, "connectd_broker_bytes_out_total", topic="wire") >= 100 * 100, "broker bytes out counted per topic")
check(total(s, "connectd_broker_request_duration_seconds_count", api="Produce") >= 1, "Produce latency histogram")
check(total(s, "connectd_broker_request_duration_seconds_count", api="Fetch") >= 1, "Fetch latency histogram")
check(value(s, "connectd_broker_connections") >= 1, "connected clients gauge")
c.close()
print("metrics: ok")
