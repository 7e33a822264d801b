"""Real Python Kafka clients against a running broker: python3 clients.py HOST:PORT.

Exercises metadata, produce, consume from the beginning, a cooperative-sticky consumer group,
and admin (create, describe configs, add partitions, change configs) with confluent-kafka and
kafka-python. Exits non-zero on the first failed check.
"""

import sys
import time
import uuid

BOOTSTRAP = sys.argv[1]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def confluent():
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = "ck-" + uuid.uuid4().hex[:8]
    for f in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1, config={"retention.ms": "600000"})]).values():
        f.result()
    md = admin.list_topics(timeout=10)
    check(len(md.topics[topic].partitions) == 2, "metadata shows 2 partitions")

    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "compression.type": "zstd", "linger.ms": 5})
    for i in range(2000):
        p.produce(topic, key=str(i % 10).encode(), value=f"v{i}".encode())
    check(p.flush(30) == 0, "all records delivered")

    # Admin: describe, change configs live (incremental), add partitions.
    res = ConfigResource("topic", topic)
    configs = admin.describe_configs([res])[res].result()
    check(configs["retention.ms"].value == "600000", "describe shows the override")
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    res = ConfigResource("topic", topic, incremental_configs=[ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result()
    configs = admin.describe_configs([ConfigResource("topic", topic)])[ConfigResource("topic", topic)].result()
    check(configs["segment.bytes"].value == "1048576" and configs["retention.ms"].value == "600000", "incremental alter keeps other overrides")
    for f in admin.create_partitions([NewPartitions(topic, 4)]).values():
        f.result()
    check(len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 4, "partitions added")

    # Admin edges, as a one-broker Kafka answers them: a manual replica assignment that names
    # only this broker, and every documented topic config, stored and read back.
    assigned = "ck-assigned-" + topic
    for f in admin.create_topics([NewTopic(assigned, num_partitions=3, replica_assignment=[[0], [0], [0]])]).values():
        f.result()
    check(len(admin.list_topics(assigned, timeout=10).topics[assigned].partitions) == 3, "manual assignment makes 3 partitions")
    try:
        for f in admin.create_topics([NewTopic("ck-elsewhere-" + topic, num_partitions=2, replica_assignment=[[0], [7]])]).values():
            f.result()
        check(False, "an assignment to a broker that does not exist is refused")
    except Exception as e:
        check("INVALID_REPLICA_ASSIGNMENT" in str(e) and "7" in str(e), f"refused with the broker named: {e}")
    documented = {
        "cleanup.policy": "compact,delete", "compression.gzip.level": "5", "compression.lz4.level": "10",
        "compression.type": "zstd", "compression.zstd.level": "7", "delete.retention.ms": "3600000",
        "file.delete.delay.ms": "1000", "flush.messages": "1000", "flush.ms": "500",
        "follower.replication.throttled.replicas": "*", "index.interval.bytes": "8192",
        "leader.replication.throttled.replicas": "0:0", "local.retention.bytes": "-2", "local.retention.ms": "-2",
        "max.compaction.lag.ms": "86400000", "max.message.bytes": "2097152", "message.downconversion.enable": "false",
        "message.timestamp.after.max.ms": "3600000", "message.timestamp.before.max.ms": "86400000",
        "message.timestamp.difference.max.ms": "86400000", "message.timestamp.type": "LogAppendTime",
        "min.cleanable.dirty.ratio": "0.25", "min.compaction.lag.ms": "1000", "min.insync.replicas": "1",
        "preallocate": "true", "remote.storage.enable": "false", "retention.bytes": "1073741824",
        "retention.ms": "86400000", "segment.bytes": "16777216", "segment.index.bytes": "1048576",
        "segment.jitter.ms": "100", "segment.ms": "3600000", "unclean.leader.election.enable": "false",
    }
    configured = "ck-configured-" + topic
    for f in admin.create_topics([NewTopic(configured, num_partitions=1, replication_factor=1, config=documented)]).values():
        f.result()
    res = ConfigResource("topic", configured)
    shown = admin.describe_configs([res])[res].result()
    for key, value in documented.items():
        check(key in shown and shown[key].value == value, f"{key}={value} is stored and shown (got {shown.get(key)})")
    res = ConfigResource("topic", configured, incremental_configs=[ConfigEntry("min.compaction.lag.ms", "2000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result()
    shown = admin.describe_configs([ConfigResource("topic", configured)])[ConfigResource("topic", configured)].result()
    check(shown["min.compaction.lag.ms"].value == "2000", "altered at alter time too")

    # Consume from the beginning with a cooperative-sticky group of two members.
    def member():
        c = Consumer({
            "bootstrap.servers": BOOTSTRAP,
            "group.id": "ck-group-" + topic,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 6000,
        })
        c.subscribe([topic])
        return c

    members = [member(), member()]
    seen = {}
    started = time.time()
    deadline = time.time() + 60
    while len(seen) < 2000 and time.time() < deadline:
        for c in members:
            for m in c.consume(num_messages=1000, timeout=0.05):
                if not m.error():
                    seen[(m.partition(), m.offset())] = m.value()
    check(len(seen) == 2000, f"group read {len(seen)} of 2000")
    print(f"confluent-kafka group read 2000 records in {time.time() - started:.1f}s", flush=True)
    check(sorted(seen.values()) == sorted(f"v{i}".encode() for i in range(2000)), "every value once")
    from confluent_kafka import KafkaError, KafkaException
    for c in members:
        try:
            c.commit(asynchronous=False)
        except KafkaException as e:
            # A member whose partitions were empty has nothing to commit.
            check(e.args[0].code() == KafkaError._NO_OFFSET, f"commit failed: {e}")
        c.close()
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "ck-group-" + topic})
    committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    check(sum(tp.offset for tp in committed) == 2000, f"committed offsets cover everything: {committed}")
    c.close()
    print("confluent-kafka: ok", flush=True)


def kafka_python():
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    topic = "kp-" + uuid.uuid4().hex[:8]
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1, topic_configs={"retention.bytes": "100000000"})])
    check(topic in admin.list_topics(), "listed")
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    text = str(described)
    check("retention.bytes" in text and "100000000" in text, "describe_configs shows the override")
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.bytes": "200000000"})])
    check("200000000" in str(admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])), "alter_configs applied")
    admin.create_partitions({topic: NewPartitions(total_count=5)})
    meta = admin.describe_topics([topic])
    check(len(meta[0]["partitions"]) == 5, "partitions added")

    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", compression_type="gzip")
    for i in range(500):
        producer.send(topic, key=b"k%d" % (i % 5), value=b"value-%d" % i)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id="kp-group-" + topic, auto_offset_reset="earliest")
    values = []
    deadline = time.time() + 30
    while len(values) < 500 and time.time() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            values.extend(r.value for r in records)
    consumer.commit()
    consumer.close()
    check(sorted(values) == sorted(b"value-%d" % i for i in range(500)), f"kafka-python group read {len(values)} of 500")
    groups = str(admin.list_groups())
    check("kp-group-" + topic in groups, f"group listed: {groups}")
    admin.close()
    print("kafka-python: ok")


if __name__ == "__main__":
    confluent()
    kafka_python()
