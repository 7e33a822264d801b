"""Real Python clients over SASL_SSL with SCRAM-SHA-512 against connectd:

    python3 secure_clients.py SASL_SSL_HOST:PORT CA.pem ADMIN_PASSWORD

The broker has the admin user `admin` (the workers' principal, a super user), the super user
`User:root` with no credentials yet, and no other users. confluent-kafka (librdkafka) and
kafka-python produce, consume in a group, manage users (KIP-554) and ACLs, and are refused
with the errors each expects: a wrong password, an unknown user, a PLAINTEXT client on the
SASL_SSL port, and principals whose ACLs do not allow what they ask. Exits non-zero on the
first failed check.
"""

import sys
import time
import uuid

BOOTSTRAP, CA, ADMIN_PASSWORD = sys.argv[1:4]
RUN = uuid.uuid4().hex[:8]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def conf(user, password, mechanism="SCRAM-SHA-512", **extra):
    c = {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": CA,
    }
    c.update(extra)
    return c


def errors_seen(config, seconds=8):
    """The error codes a client with `config` reports while trying to read metadata."""
    from confluent_kafka.admin import AdminClient

    seen = []
    config = dict(config, error_cb=lambda e: seen.append(e))
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=seconds)
    except Exception as e:  # noqa: BLE001 - the error is what we look at
        seen.append(e.args[0] if e.args else e)
    admin.poll(1)  # serves the error callbacks
    return seen


def produce_result(config, topic, n=5):
    """Produces n records; returns the delivery error codes (None for delivered)."""
    from confluent_kafka import Producer

    results = []
    p = Producer(dict(config, **{"message.timeout.ms": 8000}))
    for i in range(n):
        p.produce(topic, value=f"v{i}".encode(), on_delivery=lambda err, msg: results.append(err.code() if err else None))
    p.flush(15)
    return results


def consume(config, topic, group, expect, seconds=20):
    """Consumes from the beginning in `group`; returns (values, error codes)."""
    from confluent_kafka import Consumer

    c = Consumer(dict(config, **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    c.subscribe([topic])
    values, errors = [], []
    deadline = time.time() + seconds
    while time.time() < deadline and len(values) < expect and not errors:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() != -191:  # _PARTITION_EOF
                errors.append(m.error().code())
            continue
        values.append(m.value())
    if values and not errors:
        c.commit(asynchronous=False)
    c.close()
    return values, errors


def confluent():
    from confluent_kafka import KafkaError, TopicPartition
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        NewTopic,
        ResourcePatternType,
        ResourceType,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient(conf("admin", ADMIN_PASSWORD))

    # Users, through KIP-554: the client salts and hashes.
    users = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "root": "root-pw"}
    upserts = [
        UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), pw.encode())
        for u, pw in users.items()
    ] + [UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"alice-pw")]
    for f in admin.alter_user_scram_credentials(upserts).values():
        f.result()
    described = admin.describe_user_scram_credentials(["alice"])["alice"].result()
    mechanisms = sorted(i.mechanism for i in described.scram_credential_infos)
    check(mechanisms == sorted([ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512]), f"alice has both mechanisms: {described}")
    try:
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result()
        check(False, "describing an unknown user fails")
    except Exception as e:  # noqa: BLE001
        check("RESOURCE_NOT_FOUND" in str(e) or "does not exist" in str(e), f"unknown user: {e}")

    # Produce and consume in a group as the admin (a super user).
    topic = "orders-" + RUN
    secret = "orders-secret-" + RUN
    other = "payments-" + RUN
    for f in admin.create_topics([NewTopic(t, num_partitions=2) for t in (topic, secret, other)]).values():
        f.result()
    check(produce_result(conf("admin", ADMIN_PASSWORD), topic, 10) == [None] * 10, "admin produces")
    check(produce_result(conf("admin", ADMIN_PASSWORD), secret, 3) == [None] * 3, "admin produces to the secret topic")
    check(produce_result(conf("admin", ADMIN_PASSWORD), other, 3) == [None] * 3, "admin produces to payments")
    values, errors = consume(conf("admin", ADMIN_PASSWORD), topic, "admin-group-" + RUN, 10)
    check(len(values) == 10 and not errors, f"admin consumes in a group: {len(values)} {errors}")
    committed = admin.list_consumer_group_offsets([__import__("confluent_kafka").ConsumerGroupTopicPartitions("admin-group-" + RUN)])
    offsets = list(committed.values())[0].result().topic_partitions
    check(sum(tp.offset for tp in offsets if tp.offset >= 0) == 10, f"the group committed 10: {offsets}")

    # ACLs: alice may read topics prefixed orders- through groups prefixed g-alice-, but a
    # DENY on the secret topic beats that; bob may write the orders- topic only.
    acls = [
        AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "g-alice-", ResourcePatternType.PREFIXED, "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, secret, ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.READ, AclPermissionType.DENY),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:bob", "*", AclOperation.WRITE, AclPermissionType.ALLOW),
    ]
    for f in admin.create_acls(acls).values():
        f.result()
    any_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY)
    listed = admin.describe_acls(any_filter).result()
    check(len(listed) == 4, f"describe_acls lists the 4 ACLs: {listed}")
    alice_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice", None, AclOperation.ANY, AclPermissionType.ANY)
    check(len(admin.describe_acls(alice_filter).result()) == 3, "filtered by principal")

    alice = conf("alice", "alice-pw")
    values, errors = consume(alice, topic, "g-alice-" + RUN, 10)
    check(len(values) == 10 and not errors, f"alice reads orders- through a prefixed allow: {len(values)} {errors}")
    alice256 = conf("alice", "alice-pw", mechanism="SCRAM-SHA-256")
    values, errors = consume(alice256, topic, "g-alice-256-" + RUN, 10)
    check(len(values) == 10 and not errors, f"alice logs in with SCRAM-SHA-256 too: {len(values)} {errors}")
    values, errors = consume(alice, secret, "g-alice-s-" + RUN, 3)
    check(not values and KafkaError.TOPIC_AUTHORIZATION_FAILED in errors, f"a deny beats the prefixed allow: {values} {errors}")
    values, errors = consume(alice, other, "g-alice-o-" + RUN, 3)
    check(not values and KafkaError.TOPIC_AUTHORIZATION_FAILED in errors, f"alice has no Read on payments: {values} {errors}")
    values, errors = consume(alice, topic, "someone-elses-" + RUN, 10)
    check(not values and KafkaError.GROUP_AUTHORIZATION_FAILED in errors, f"alice has no Read on that group: {values} {errors}")
    check(set(produce_result(alice, topic, 2)) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, "alice has no Write")
    check(produce_result(conf("bob", "bob-pw"), topic, 3) == [None] * 3, "bob writes with his literal allow")
    check(set(produce_result(conf("bob", "bob-pw"), other, 2)) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, "bob has no Write on payments")
    carol_topics = AdminClient(conf("carol", "carol-pw")).list_topics(timeout=10).topics
    check(topic not in carol_topics and other not in carol_topics, f"Metadata hides topics carol may not describe: {list(carol_topics)}")

    # The worker's internal topics and groups belong to the workers' principal alone, not
    # even to another super user.
    root = conf("root", "root-pw")
    check(set(produce_result(root, "connectd-configs", 1)) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, "root may not write connectd-configs")
    check(produce_result(root, other, 1) == [None], "root is a super user elsewhere")
    values, errors = consume(root, other, "connect-some-sink", 3)
    check(not values and KafkaError.GROUP_AUTHORIZATION_FAILED in errors, f"root may not join a connect- group: {errors}")
    # Nor may a super user take the workers' user over by setting its password.
    root_admin = AdminClient(root)
    try:
        for f in root_admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("admin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"pwned")
        ]).values():
            f.result()
        check(False, "root may not set the workers' password")
    except Exception as e:  # noqa: BLE001
        check("CLUSTER_AUTHORIZATION_FAILED" in str(e) and "worker.toml" in str(e), f"root setting admin's password: {e}")
    check(produce_result(conf("admin", ADMIN_PASSWORD), other, 1) == [None], "the admin still logs in with its own password")

    # OffsetFetch leaves out the topics alice may not describe: admin commits in one of her
    # groups for orders- (hers to read) and payments (not hers).
    group = "g-alice-mixed-" + RUN
    consume(conf("admin", ADMIN_PASSWORD), topic, group, 10)
    consume(conf("admin", ADMIN_PASSWORD), other, group, 3)
    from confluent_kafka import ConsumerGroupTopicPartitions
    alice_admin = AdminClient(alice)
    seen = alice_admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    seen_topics = {tp.topic for tp in list(seen.values())[0].result(timeout=30).topic_partitions}
    check(topic in seen_topics and other not in seen_topics, f"alice sees only her topics' offsets: {seen_topics}")

    # Delete ACLs: bob's go, and with them his Write.
    bob_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:bob", None, AclOperation.ANY, AclPermissionType.ANY)
    deleted = list(admin.delete_acls([bob_filter]).values())[0].result()
    check(len(deleted) == 1, f"one ACL of bob's deleted: {deleted}")
    check(set(produce_result(conf("bob", "bob-pw"), topic, 1)) == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, "bob lost Write")
    # A user without Alter on the cluster may not change ACLs or users.
    try:
        for f in alice_admin.create_acls([acls[3]]).values():
            f.result()
        check(False, "alice may not create ACLs")
    except Exception as e:  # noqa: BLE001
        check("CLUSTER_AUTHORIZATION_FAILED" in str(e), f"alice creating an ACL: {e}")

    # Refusals, with the errors librdkafka reports.
    for name, bad in [
        ("a wrong password", conf("alice", "not-her-password")),
        ("an unknown user", conf("mallory", "whatever")),
    ]:
        seen = errors_seen(bad)
        codes = [e.code() for e in seen if hasattr(e, "code")]
        check(KafkaError._AUTHENTICATION in codes, f"{name} is refused as _AUTHENTICATION: {seen}")
        check(any("Authentication failed" in str(e) for e in seen), f"{name}: the broker's reason is shown: {seen}")
    seen = errors_seen({"bootstrap.servers": BOOTSTRAP}, seconds=5)
    codes = [e.code() for e in seen if hasattr(e, "code")]
    check(codes and KafkaError._AUTHENTICATION not in codes and set(codes) <= {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT}, f"a PLAINTEXT client on SASL_SSL gets transport errors: {seen}")

    # Removing a user's credential logs it out for good.
    for f in admin.alter_user_scram_credentials([UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_512)]).values():
        f.result()
    codes = [e.code() for e in errors_seen(conf("carol", "carol-pw")) if hasattr(e, "code")]
    check(KafkaError._AUTHENTICATION in codes, "carol, deleted, is refused")
    for f in admin.delete_acls([AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY)]).values():
        f.result()
    print("confluent-kafka: ok")


def kafka_python():
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient, NewTopic, ResourcePattern, ResourcePatternFilter, ResourceType
    from kafka.errors import KafkaError
    from kafka.structs import TopicPartition  # noqa: F401

    sasl = dict(
        bootstrap_servers=BOOTSTRAP,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        ssl_cafile=CA,
    )
    admin = KafkaAdminClient(sasl_plain_username="admin", sasl_plain_password=ADMIN_PASSWORD, **sasl)
    topic = "kp-" + RUN
    admin.create_topics([NewTopic(topic, 2, 1)])
    p = KafkaProducer(sasl_plain_username="admin", sasl_plain_password=ADMIN_PASSWORD, **sasl)
    for i in range(20):
        p.send(topic, f"m{i}".encode())
    p.flush(20)
    p.close()
    c = KafkaConsumer(topic, group_id="kp-group-" + RUN, auto_offset_reset="earliest", consumer_timeout_ms=15000,
                      sasl_plain_username="admin", sasl_plain_password=ADMIN_PASSWORD, **sasl)
    got = []
    for m in c:
        got.append(m.value)
        if len(got) == 20:
            break
    c.commit()
    c.close()
    check(len(got) == 20, f"kafka-python consumed 20 in a group over SASL_SSL: {len(got)}")

    acl = ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW, ResourcePattern(ResourceType.TOPIC, topic))
    result = admin.create_acls([acl])
    check(not result["failed"], f"kafka-python creates an ACL: {result}")
    listed, error = admin.describe_acls(ACLFilter(None, "*", ACLOperation.ANY, ACLPermissionType.ANY, ResourcePatternFilter(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL)))
    check(len(listed) == 1 and listed[0].principal == "User:alice", f"kafka-python describes it: {listed} {error}")
    deleted = admin.delete_acls([ACLFilter(None, "*", ACLOperation.ANY, ACLPermissionType.ANY, ResourcePatternFilter(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL))])
    check(len(deleted[0][1]) == 1, f"kafka-python deletes it: {deleted}")
    admin.close()

    # kafka-python logs the broker's SASL error for each bootstrap attempt and gives up with
    # a timeout.
    import logging

    class Seen(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    seen = Seen()
    logging.getLogger("kafka").addHandler(seen)
    for user, password in [("admin", "wrong"), ("mallory", "whatever")]:
        seen.messages.clear()
        try:
            KafkaAdminClient(sasl_plain_username=user, sasl_plain_password=password, request_timeout_ms=5000, **sasl)
            check(False, "kafka-python with a wrong password is refused")
        except KafkaError as e:
            check(type(e).__name__ in ("KafkaTimeoutError", "NoBrokersAvailable"), f"refused: {e!r}")
        check(any("SaslAuthenticationFailedError" in m for m in seen.messages), f"kafka-python saw SASL_AUTHENTICATION_FAILED for {user}: {seen.messages[-5:]}")
    print("kafka-python: ok")


confluent()
kafka_python()
