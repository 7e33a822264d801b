"""Kafka Connect's REST API on a running worker, driven by kafka-connect-api (a client no one
here wrote) and by requests for the error cases:

    python3 rest.py phase API_URL BOOTSTRAP

`phase` is `first` (create, pause, resume, restart, offsets, errors; leaves the connector
`gen` paused and `keep` running) or `after-restart` (both survived a kill -9 as they were;
delete them). Exits non-zero on the first failed check.
"""

import sys
import time

import requests
from confluent_kafka import Consumer, TopicPartition
from kafka_connect_api.errors import ConnectApiException, GenericNotFound
from kafka_connect_api.kafka_connect_api import Api, Cluster, Connector

PHASE, URL, BOOTSTRAP = sys.argv[1], sys.argv[2], sys.argv[3]
cluster = Cluster(Api(url=URL))


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def wait_for(what, probe, timeout=30):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = probe()
        if last:
            print("ok:", what)
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what} (last: {last})")


def end_offsets(topic, partitions=1):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "rest-probe"})
    try:
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    finally:
        c.close()


def exists(connector):
    """kafka-connect-api's exists() raises on the 404 it asks for."""
    try:
        return connector.exists()
    except GenericNotFound:
        return False


def states(connector):
    s = connector.status
    return s["connector"]["state"], [t["state"] for t in s["tasks"]]


def error(response, code, needle):
    body = response.json()
    check(response.status_code == code and body.get("error_code") == code and needle in body.get("message", ""),
          f"{response.request.method} {response.request.path_url} -> {code} naming {needle!r}: {response.status_code} {body}")


def first():
    check(cluster.version and cluster.kafka_cluster, "GET / answers version and cluster id")
    check(list(cluster.connectors) == ["lines"], "the file connector is listed")

    gen = Connector(cluster, "gen")
    check(not exists(gen), "gen does not exist yet")
    gen.config = {"connector.class": "datagen-source", "topic": "rest-gen", "tasks.max": "2", "rate": "200"}
    check(exists(gen), "PUT config created gen")
    wait_for("gen and both tasks RUNNING", lambda: states(gen) == ("RUNNING", ["RUNNING", "RUNNING"]))
    check(gen.config["topic"] == "rest-gen" and len(gen.tasks) == 2, "config and tasks read back")
    wait_for("records flow", lambda: end_offsets("rest-gen") > 100)

    gen.pause()
    wait_for("gen and its tasks PAUSED", lambda: states(gen) == ("PAUSED", ["PAUSED", "PAUSED"]))
    before = end_offsets("rest-gen")
    time.sleep(1.5)
    check(end_offsets("rest-gen") == before, "nothing is produced while paused")
    gen.resume()
    wait_for("RUNNING again", lambda: states(gen) == ("RUNNING", ["RUNNING", "RUNNING"]))
    wait_for("records flow again", lambda: end_offsets("rest-gen") > before + 100)

    gen.tasks[1].restart()
    wait_for("task 1 RUNNING after its restart", lambda: gen.tasks[1].is_running())
    r = requests.post(f"{URL}/connectors/gen/restart?includeTasks=true&onlyFailed=false")
    check(r.status_code == 202 and r.json()["name"] == "gen", f"restart with tasks -> 202 and status: {r.status_code}")
    wait_for("RUNNING after restarting all", lambda: states(gen) == ("RUNNING", ["RUNNING", "RUNNING"]))

    # Offsets, as KIP-875 shows them.
    offsets = wait_for("offsets for both tasks", lambda: (lambda o: o if len(o) == 2 else None)(requests.get(f"{URL}/connectors/gen/offsets").json()["offsets"]))
    check(sorted(o["partition"] for o in offsets) == ["datagen-0", "datagen-1"] and all(o["offset"] > 0 for o in offsets), f"offsets: {offsets}")

    # PATCH one key, POST another connector, expand.
    r = requests.patch(f"{URL}/connectors/gen/config", json={"rate": "300"})
    # The PATCH stopped gen's tasks (each stored its last position) and started new ones.
    patched = {o["partition"]: o["offset"] for o in requests.get(f"{URL}/connectors/gen/offsets").json()["offsets"]}
    check(r.status_code == 200 and r.json()["config"]["rate"] == "300", f"PATCH config: {r.text}")
    r = requests.post(f"{URL}/connectors", json={"name": "keep", "config": {"connector.class": "datagen-source", "topic": "rest-keep", "rate": 50}})
    check(r.status_code == 201 and r.json()["type"] == "source", f"POST /connectors -> 201: {r.text}")
    expanded = requests.get(f"{URL}/connectors?expand=status&expand=info").json()
    check(set(expanded) == {"gen", "keep", "lines"} and expanded["gen"]["info"]["config"]["rate"] == "300" and "state" in expanded["keep"]["status"]["connector"], f"expand: {expanded}")

    # Errors, in Kafka Connect's shape.
    error(requests.get(f"{URL}/connectors/nope"), 404, "nope")
    error(requests.get(f"{URL}/connectors/nope/status"), 404, "nope")
    error(requests.post(f"{URL}/connectors", json={"name": "gen", "config": {"connector.class": "datagen-source", "topic": "x"}}), 409, "already exists")
    error(requests.post(f"{URL}/connectors", json={"name": "bad", "config": {"connector.class": "datagen-source", "topic": "x", "rate": "-4"}}), 400, "rate")
    error(requests.post(f"{URL}/connectors", json={"name": "bad", "config": {"connector.class": "no-such-plugin", "topic": "x"}}), 400, "no-such-plugin")
    error(requests.post(f"{URL}/connectors", data="{\"name\": ", headers={"Content-Type": "application/json"}), 400, "JSON")
    error(requests.post(f"{URL}/connectors", json={"name": "one", "config": {"name": "two", "connector.class": "datagen-source", "topic": "x"}}), 400, "differs")
    error(requests.post(f"{URL}/connectors", json={"name": "bad", "config": {}, "surprise": 1}), 400, "surprise")
    error(requests.post(f"{URL}/connectors", json={"name": "../../etc", "config": {"connector.class": "datagen-source", "topic": "x"}}), 400, "name")
    error(requests.put(f"{URL}/connectors/gen/config", data="x" * (2 << 20), headers={"Content-Type": "application/json"}), 413, "")
    error(requests.delete(f"{URL}/connectors/lines"), 409, "lines.toml")
    error(requests.post(f"{URL}/connectors/gen/tasks/7/restart"), 404, "gen-7")
    error(requests.get(f"{URL}/no/such/path"), 404, "no such path")
    check(sorted(requests.get(f"{URL}/connectors").json()) == ["gen", "keep", "lines"], "no partial state from the refused requests")

    # Plugins, and validation with per-field errors from the plugin's own schema.
    plugins = requests.get(f"{URL}/connector-plugins").json()
    check({"class": "datagen-source", "type": "source", "version": "0.1.0"} in plugins, f"plugins: {plugins}")
    keys = requests.get(f"{URL}/connector-plugins/datagen-source/config").json()
    check(any(k["name"] == "topic" and k["required"] for k in keys), f"plugin config keys: {keys}")
    v = requests.put(f"{URL}/connector-plugins/datagen-source/config/validate", json={"connector.class": "datagen-source", "rate": "fast"}).json()
    errors = {c["value"]["name"]: c["value"]["errors"] for c in v["configs"]}
    check(v["error_count"] == 2 and errors["rate"] and errors["topic"] and not errors["iterations"], f"validate: {v}")

    # Active topics (KIP-558). A task marks its topic active when it first sends to it, so the
    # reset runs while gen is paused: a running task (the PATCH above restarted both) may mark
    # it again at any moment, and positions stored after the PATCH may still be the old
    # tasks' last deliveries. Resumed, its tasks send again and mark it again.
    wait_for("gen's restarted tasks sending", lambda: all(
        o["offset"] > patched.get(o["partition"], 0) for o in requests.get(f"{URL}/connectors/gen/offsets").json()["offsets"]))
    wait_for("rest-gen active", lambda: requests.get(f"{URL}/connectors/gen/topics").json() == {"gen": {"topics": ["rest-gen"]}})
    gen.pause()
    wait_for("gen PAUSED for the reset", lambda: states(gen) == ("PAUSED", ["PAUSED", "PAUSED"]))
    check(requests.put(f"{URL}/connectors/gen/topics/reset").status_code == 202, "topics reset -> 202")
    check(requests.get(f"{URL}/connectors/gen/topics").json() == {"gen": {"topics": []}}, "no active topics after the reset")
    gen.resume()
    wait_for("rest-gen active again once gen sends", lambda: requests.get(f"{URL}/connectors/gen/topics").json() == {"gen": {"topics": ["rest-gen"]}})

    # Log levels, as /admin/loggers changes log4j's.
    check(cluster.loggers["root"]["level"] == "INFO", f"root logger: {cluster.loggers}")
    r = requests.put(f"{URL}/admin/loggers/connectd_worker.supervisor", json={"level": "DEBUG"})
    check(r.status_code == 200 and r.json() == ["connectd_worker::supervisor"], f"set a level: {r.text}")
    check(requests.get(f"{URL}/admin/loggers/connectd_worker.supervisor").json() == {"level": "DEBUG"}, "level read back")
    error(requests.put(f"{URL}/admin/loggers/root", json={"level": "LOUD"}), 400, "LOUD")

    # A connector created STOPPED stays stopped.
    r = requests.post(f"{URL}/connectors", json={"name": "idle", "config": {"connector.class": "datagen-source", "topic": "rest-idle"}, "initial_state": "STOPPED"})
    check(r.status_code == 201, f"created STOPPED: {r.text}")
    wait_for("idle STOPPED", lambda: states(Connector(cluster, "idle"))[0] == "STOPPED")
    check(requests.delete(f"{URL}/connectors/idle").status_code == 204, "idle deleted")

    # Offsets of a STOPPED connector can be altered and reset (KIP-875).
    moved = {"offsets": [{"partition": "datagen-0", "offset": 10}, {"partition": "datagen-1", "offset": 20}]}
    error(requests.patch(f"{URL}/connectors/gen/offsets", json=moved), 400, "STOPPED")
    check(requests.put(f"{URL}/connectors/gen/stop").status_code == 204, "stop -> 204")
    wait_for("gen STOPPED", lambda: states(gen)[0] == "STOPPED")
    r = requests.patch(f"{URL}/connectors/gen/offsets", json=moved)
    check(r.status_code == 200 and "altered" in r.json()["message"], f"offsets altered: {r.text}")
    got = sorted((o["partition"], o["offset"]) for o in requests.get(f"{URL}/connectors/gen/offsets").json()["offsets"])
    check(got == [("datagen-0", 10), ("datagen-1", 20)], f"altered offsets read back: {got}")
    r = requests.delete(f"{URL}/connectors/gen/offsets")
    check(r.status_code == 200 and "reset" in r.json()["message"], f"offsets reset: {r.text}")
    check(requests.get(f"{URL}/connectors/gen/offsets").json() == {"offsets": []}, "no offsets after the reset")
    r = requests.patch(f"{URL}/connectors/gen/offsets", json=moved)
    check(r.status_code == 200, "altered again")
    gen.resume()
    wait_for("RUNNING after the stop", lambda: states(gen) == ("RUNNING", ["RUNNING", "RUNNING"]))
    # Task 0 resumes at record 10 (the position is the next record), which it wrote before.
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "rest-replay", "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("rest-gen", 0, 0)])
    seen, deadline = 0, time.time() + 30
    while seen < 2 and time.time() < deadline:
        m = c.poll(1)
        if m is not None and m.error() is None and b'"id":10,"task":0,' in m.value():
            seen += 1
    c.close()
    check(seen == 2, "task 0 wrote record 10 again after its offset was moved back")

    gen.pause()
    wait_for("gen PAUSED before the kill", lambda: states(gen)[0] == "PAUSED")
    print("first: ok")


def after_restart():
    gen, keep = Connector(cluster, "gen"), Connector(cluster, "keep")
    check(sorted(cluster.connectors) == ["gen", "keep", "lines"], "REST and file connectors survive a restart")
    check(gen.config["rate"] == "300", "with their latest config")
    wait_for("gen still PAUSED", lambda: states(gen) == ("PAUSED", ["PAUSED", "PAUSED"]))
    wait_for("keep RUNNING", lambda: states(keep) == ("RUNNING", ["RUNNING"]))
    gen.delete()
    keep.delete()
    check(not exists(gen) and not exists(keep), "deleted")
    try:
        gen.pause()
        check(False, "pausing a deleted connector fails")
    except (ConnectApiException, GenericNotFound) as e:
        check("404" in str(e), f"404 for a deleted connector: {e}")
    check(list(cluster.connectors) == ["lines"], "only the file connector is left")
    print("after-restart: ok")


{"first": first, "after-restart": after_restart}[PHASE]()
