//! The rdkafka crate (librdkafka 2.12) against a running connectd: metadata, produce,
//! consume from the beginning, group consume, admin (create, describe configs, add partitions,
//! change configs), timestamps, DeleteRecords, auto-creation, and connectd's own CLI.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::Connectd;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const T: Duration = Duration::from_secs(10);

fn admin(c: &Connectd) -> AdminClient<DefaultClientContext> {
    c.client().create().unwrap()
}

async fn produce(c: &Connectd, topic: &str, n: usize, extra: &[(&str, &str)]) -> Vec<(i32, i64)> {
    let mut cfg = c.client();
    cfg.set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let producer: FutureProducer = cfg.create().unwrap();
    let mut futures = Vec::new();
    for i in 0..n {
        let key = format!("key-{}", i % 7);
        let value = format!("value-{i}");
        futures.push(
            producer
                .send_result(
                    FutureRecord::to(topic)
                        .key(&key)
                        .payload(&value)
                        .timestamp(1_700_000_000_000 + i as i64),
                )
                .unwrap(),
        );
    }
    let mut out = Vec::new();
    for f in futures {
        let d = f.await.unwrap().map_err(|(e, _)| e).unwrap();
        out.push((d.partition, d.offset));
    }
    out
}

fn consume_all(
    consumer: &BaseConsumer,
    expected: usize,
    timeout: Duration,
) -> Vec<(i32, i64, String)> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < expected && start.elapsed() < timeout {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            got.push((
                m.partition(),
                m.offset(),
                String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
            ));
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_produce_consume_and_admin() {
    let c = Connectd::start("");
    let admin = admin(&c);
    let opts = AdminOptions::new().operation_timeout(Some(T));

    // Admin: create with a config override, refuse a duplicate.
    let topic =
        NewTopic::new("orders", 3, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let res = admin.create_topics([&topic], &opts).await.unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    let res = admin.create_topics([&topic], &opts).await.unwrap();
    assert!(
        matches!(
            res[0],
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))
        ),
        "{res:?}"
    );

    // Metadata.
    let consumer: BaseConsumer = c.client().set("group.id", "meta").create().unwrap();
    let md = consumer.fetch_metadata(Some("orders"), T).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 3);
    assert_eq!(md.brokers()[0].port() as u16, c.port);

    // Produce 300 idempotent records, then read every one back from the beginning.
    let delivered = produce(&c, "orders", 300, &[]).await;
    let mut per_partition: HashMap<i32, Vec<i64>> = HashMap::new();
    for (p, o) in &delivered {
        per_partition.entry(*p).or_default().push(*o);
    }
    for offsets in per_partition.values() {
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "offsets are contiguous per partition"
        );
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset("orders", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let got = consume_all(&consumer, 300, Duration::from_secs(20));
    assert_eq!(got.len(), 300);
    let mut values: Vec<String> = got.iter().map(|(_, _, v)| v.clone()).collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 300, "every record exactly once");

    // Describe configs: the override and the defaults, with their sources.
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("orders")], &opts)
        .await
        .unwrap();
    let resource = described[0].as_ref().unwrap();
    let retention = resource.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert!(matches!(retention.source, ConfigSource::DynamicTopic));
    assert_eq!(
        resource.get("segment.bytes").unwrap().value.as_deref(),
        Some("1073741824")
    );

    // Change a config live and add partitions.
    let alter = AlterConfig::new(ResourceSpecifier::Topic("orders"))
        .set("retention.ms", "7200000")
        .set("segment.bytes", "1048576");
    assert!(admin.alter_configs([&alter], &opts).await.unwrap()[0].is_ok());
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("orders")], &opts)
        .await
        .unwrap();
    assert_eq!(
        described[0]
            .as_ref()
            .unwrap()
            .get("segment.bytes")
            .unwrap()
            .value
            .as_deref(),
        Some("1048576")
    );
    // A bad value is refused (rdkafka 0.39 drops per-resource AlterConfigs errors, so check
    // that the old value stayed).
    let bad = AlterConfig::new(ResourceSpecifier::Topic("orders")).set("retention.ms", "tomorrow");
    let _ = admin.alter_configs([&bad], &opts).await.unwrap();
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("orders")], &opts)
        .await
        .unwrap();
    assert_eq!(
        described[0]
            .as_ref()
            .unwrap()
            .get("retention.ms")
            .unwrap()
            .value
            .as_deref(),
        Some("7200000")
    );
    assert!(
        admin
            .create_partitions([&NewPartitions::new("orders", 5)], &opts)
            .await
            .unwrap()[0]
            .is_ok()
    );
    assert!(
        admin
            .create_partitions([&NewPartitions::new("orders", 2)], &opts)
            .await
            .unwrap()[0]
            .is_err(),
        "partitions never shrink"
    );
    let md = consumer.fetch_metadata(Some("orders"), T).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 5);

    // ListOffsets: earliest, latest and by timestamp.
    let (low, high) = consumer.fetch_watermarks("orders", 0, T).unwrap();
    assert_eq!(low, 0);
    assert_eq!(high as usize, per_partition[&0].len());
    let mut by_time = TopicPartitionList::new();
    by_time
        .add_partition_offset("orders", 0, Offset::Offset(1_700_000_000_000 + 150))
        .unwrap();
    let found = consumer.offsets_for_times(by_time, T).unwrap();
    let Offset::Offset(o) = found.elements()[0].offset() else {
        panic!("no offset for timestamp")
    };
    assert!(
        o > 0 && o < high,
        "timestamp lookup lands inside the partition: {o}"
    );

    // DeleteRecords moves the log start.
    let mut del = TopicPartitionList::new();
    del.add_partition_offset("orders", 0, Offset::Offset(10))
        .unwrap();
    admin.delete_records(&del, &opts).await.unwrap();
    assert_eq!(consumer.fetch_watermarks("orders", 0, T).unwrap().0, 10);

    // Auto-creation on metadata for an unknown topic.
    let _ = produce(&c, "auto-created", 1, &[]).await;
    let md = consumer.fetch_metadata(Some("auto-created"), T).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 1);
    assert!(md.topics()[0].error().is_none());

    // Delete.
    assert!(admin.delete_topics(&["auto-created"], &opts).await.unwrap()[0].is_ok());
    let md = consumer.fetch_metadata(None, T).unwrap();
    assert!(md.topics().iter().all(|t| t.name() != "auto-created"));
}

#[tokio::test(flavor = "multi_thread")]
async fn group_consume_commits_and_resumes() {
    let c = Connectd::start("");
    c.cli(&["topics", "create", "events", "--partitions", "4"], None);
    produce(&c, "events", 400, &[]).await;

    let group_consumer = |id: &str| -> BaseConsumer {
        c.client()
            .set("group.id", "g1")
            .set("client.id", id)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap()
    };
    let a = group_consumer("a");
    a.subscribe(&["events"]).unwrap();
    let first = consume_all(&a, 200, Duration::from_secs(30));
    assert_eq!(first.len(), 200);
    a.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(a); // leaves the group

    // A new member resumes from the committed offsets: the rest, and nothing twice.
    let b = group_consumer("b");
    b.subscribe(&["events"]).unwrap();
    let rest = consume_all(&b, 400, Duration::from_secs(15));
    let mut all: Vec<String> = first
        .iter()
        .chain(rest.iter())
        .map(|(_, _, v)| v.clone())
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 400, "every record once");
    assert_eq!(n, 400, "nothing read twice after the commit");

    // The CLI shows the group and its lag.
    b.commit_consumer_state(CommitMode::Sync).unwrap();
    let listed = c.cli(&["groups", "list"], None);
    assert!(listed.contains("g1"), "{listed}");
    let described = c.cli(&["groups", "describe", "g1"], None);
    assert!(
        described.contains("Stable") && described.contains("events"),
        "{described}"
    );
}

#[test]
fn cli_topics_produce_consume() {
    let c = Connectd::start("");
    assert!(
        c.cli(
            &[
                "topics",
                "create",
                "cli-topic",
                "--partitions",
                "3",
                "--config",
                "retention.ms=60000"
            ],
            None
        )
        .contains("Created topic cli-topic")
    );
    assert!(
        c.cli(&["topics", "list"], None)
            .lines()
            .any(|l| l == "cli-topic")
    );
    c.cli(
        &[
            "topics",
            "alter",
            "cli-topic",
            "--partitions",
            "5",
            "--config",
            "segment.bytes=2097152",
        ],
        None,
    );
    let described = c.cli(&["topics", "describe", "cli-topic"], None);
    assert!(described.contains("PartitionCount: 5"), "{described}");
    assert!(
        described.contains("retention.ms=60000") && described.contains("segment.bytes=2097152"),
        "alter keeps earlier overrides: {described}"
    );

    // Kafka's flag style, `--topic NAME`, works wherever the positional name does.
    let kafka_style = c.cli(
        &[
            "topics",
            "create",
            "--topic",
            "flagged",
            "--partitions",
            "3",
        ],
        None,
    );
    assert!(
        kafka_style.contains("Created topic flagged"),
        "{kafka_style}"
    );
    c.cli(
        &["topics", "alter", "--topic", "flagged", "--partitions", "4"],
        None,
    );
    let described = c.cli(&["topics", "describe", "--topic", "flagged"], None);
    assert!(described.contains("PartitionCount: 4"), "{described}");
    let (ok, _, err) = crate::support::cli_status(
        &c.bootstrap(),
        &["topics", "delete", "flagged", "--topic", "other"],
        None,
    );
    assert!(!ok && err.contains("--topic"), "both forms at once: {err}");
    c.cli(&["topics", "delete", "--topic", "flagged"], None);
    assert!(
        !c.cli(&["topics", "list"], None)
            .lines()
            .any(|l| l == "flagged")
    );

    let input: String = (0..50).map(|i| format!("k{i}:line {i}\n")).collect();
    c.cli(
        &["produce", "--topic", "cli-topic", "--key-separator", ":"],
        Some(&input),
    );
    let out = c.cli(
        &[
            "consume",
            "--topic",
            "cli-topic",
            "--from-beginning",
            "--max-messages",
            "50",
            "--print-key",
            "--print-partition",
            "--print-offset",
        ],
        None,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 50, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("Partition:") && l.contains("\tOffset:") && l.contains("\tk"))
    );
    for i in 0..50 {
        assert!(
            out.contains(&format!("k{i}\tline {i}\n")),
            "missing line {i}"
        );
    }

    let grouped = c.cli(
        &[
            "consume",
            "--topic",
            "cli-topic",
            "--from-beginning",
            "--max-messages",
            "50",
            "--group",
            "cli-group",
        ],
        None,
    );
    assert_eq!(grouped.lines().count(), 50);
    let described = c.cli(&["groups", "describe", "cli-group"], None);
    let lag_total: i64 = described
        .lines()
        .filter(|l| l.starts_with("cli-topic\t"))
        .map(|l| l.split('\t').nth(4).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(lag_total, 0, "all committed: {described}");

    // Piped into a reader that is already gone (`connectd topics list | head -0`): the
    // command stops quietly (SIGPIPE, as Unix tools do), without a panic or an error.
    for args in [
        &["topics", "list"][..],
        &[
            "consume",
            "--topic",
            "cli-topic",
            "--from-beginning",
            "--max-messages",
            "50",
        ],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_connectd"))
            .args(args)
            .args(["--bootstrap-server", &c.bootstrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.signal() == Some(libc::SIGPIPE)
                && !err.contains("panicked")
                && !err.contains("Broken pipe"),
            "{args:?} into a closed pipe: {:?}, stderr: {err}",
            out.status
        );
    }

    c.cli(&["topics", "delete", "cli-topic"], None);
    assert!(!c.cli(&["topics", "list"], None).contains("cli-topic"));
    let (ok, _, err) =
        crate::support::cli_status(&c.bootstrap(), &["topics", "create", "bad name!"], None);
    assert!(!ok && err.to_lowercase().contains("invalid"), "{err}");
}

#[test]
fn clean_restart_keeps_topics_offsets_and_configs() {
    let mut c = Connectd::start("");
    c.cli(
        &[
            "topics",
            "create",
            "keep",
            "--partitions",
            "2",
            "--config",
            "retention.bytes=123456789",
        ],
        None,
    );
    let input: String = (0..100).map(|i| format!("{i}\n")).collect();
    c.cli(&["produce", "--topic", "keep"], Some(&input));
    c.cli(
        &[
            "consume",
            "--topic",
            "keep",
            "--from-beginning",
            "--max-messages",
            "60",
            "--group",
            "kg",
        ],
        None,
    );
    c.stop();
    assert!(c.data_dir().join(".clean-shutdown").exists());
    c.restart();
    let described = c.cli(&["topics", "describe", "keep"], None);
    assert!(
        described.contains("retention.bytes=123456789"),
        "{described}"
    );
    let rest = c.cli(
        &[
            "consume",
            "--topic",
            "keep",
            "--from-beginning",
            "--max-messages",
            "40",
            "--group",
            "kg",
            "--timeout-ms",
            "10000",
        ],
        None,
    );
    assert_eq!(
        rest.lines().count(),
        40,
        "group resumes after its committed offsets"
    );
}

fn assignment_of(consumer: &BaseConsumer, timeout: Duration) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let _ = consumer.poll(Duration::from_millis(50));
        let mut parts: Vec<i32> = consumer
            .assignment()
            .unwrap()
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect();
        if !parts.is_empty() || start.elapsed() > timeout {
            parts.sort();
            return parts;
        }
    }
}

#[test]
fn static_member_rejoins_with_its_partitions_and_dead_members_time_out() {
    let c = Connectd::start("");
    c.cli(&["topics", "create", "static", "--partitions", "4"], None);
    let member = |instance: &str, session_ms: &str| -> BaseConsumer {
        let mut cfg = c.client();
        cfg.set("group.id", "static-group")
            .set("session.timeout.ms", session_ms)
            .set("heartbeat.interval.ms", "300")
            .set("partition.assignment.strategy", "range");
        if !instance.is_empty() {
            cfg.set("group.instance.id", instance);
        }
        let consumer: BaseConsumer = cfg.create().unwrap();
        consumer.subscribe(&["static"]).unwrap();
        consumer
    };
    let a = member("instance-a", "30000");
    let b = member("instance-b", "30000");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    while (pa.len() + pb.len() != 4) && Instant::now() < deadline {
        pa = assignment_of(&a, Duration::from_millis(200));
        pb = assignment_of(&b, Duration::from_millis(200));
    }
    assert_eq!(
        pa.len() + pb.len(),
        4,
        "both static members share the partitions: {pa:?} {pb:?}"
    );
    let described = c.cli(&["groups", "describe", "static-group"], None);
    assert!(described.contains("Members: 2"), "{described}");

    // A static member that closes does not leave (KIP-345); a new process with the same
    // instance id takes its place at once, long before the 30 s session timeout.
    drop(b);
    let restarted = Instant::now();
    let b2 = member("instance-b", "30000");
    let mut back = Vec::new();
    while back.is_empty() && restarted.elapsed() < Duration::from_secs(20) {
        let _ = a.poll(Duration::from_millis(50)); // a live application keeps polling
        back = assignment_of(&b2, Duration::from_millis(100));
    }
    assert_eq!(
        back, pb,
        "the returning static member gets its old partitions back"
    );
    assert_eq!(
        assignment_of(&a, Duration::from_millis(100)),
        pa,
        "the other member kept its partitions"
    );
    assert!(
        !back.is_empty(),
        "the returning static member gets partitions"
    );
    assert!(
        restarted.elapsed() < Duration::from_secs(15),
        "rejoined without waiting for the session timeout"
    );

    // A dynamic member that stops heartbeating is removed after its session timeout, and the
    // rest of the group takes its partitions.
    let group = |id: &str| -> BaseConsumer {
        let consumer: BaseConsumer = c
            .client()
            .set("group.id", id)
            .set("session.timeout.ms", "2000")
            .set("heartbeat.interval.ms", "300")
            .create()
            .unwrap();
        consumer.subscribe(&["static"]).unwrap();
        consumer
    };
    let survivor = group("timeout-group");
    let (ok, _, err) = crate::support::run_tool(
        "timeout",
        &[
            "-s",
            "KILL",
            "6",
            "kcat",
            "-b",
            &c.bootstrap(),
            "-G",
            "timeout-group",
            "-X",
            "session.timeout.ms=2000",
            "-q",
            "static",
        ],
        None,
    );
    assert!(!ok, "kcat was killed: {err}");
    // Right after the kill the dead member may still own partitions; after its session
    // timeout the survivor owns all four.
    let start = Instant::now();
    loop {
        let parts = assignment_of(&survivor, Duration::from_millis(200));
        if parts.len() == 4 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the dead member was never timed out: survivor has {parts:?}"
        );
    }
}

#[test]
fn retention_deletes_old_segments_live() {
    let c = Connectd::start("log_retention_check_interval_ms = 200");
    c.cli(
        &[
            "topics",
            "create",
            "short-lived",
            "--partitions",
            "1",
            "--config",
            "segment.bytes=2048",
        ],
        None,
    );
    // One batch per record, so segments roll every few records.
    let producer: rdkafka::producer::BaseProducer =
        c.client().set("linger.ms", "0").create().unwrap();
    for i in 0..200 {
        producer
            .send(
                rdkafka::producer::BaseRecord::<(), String>::to("short-lived")
                    .payload(&format!("record number {i} with some padding")),
            )
            .unwrap();
        rdkafka::producer::Producer::flush(&producer, T).unwrap();
    }
    let consumer: BaseConsumer = c.client().set("group.id", "ret").create().unwrap();
    assert_eq!(
        consumer.fetch_watermarks("short-lived", 0, T).unwrap(),
        (0, 200)
    );
    // Tighten retention live: everything but the active segment expires.
    c.cli(
        &[
            "topics",
            "alter",
            "short-lived",
            "--config",
            "retention.ms=1",
        ],
        None,
    );
    let start = Instant::now();
    loop {
        let (low, high) = consumer.fetch_watermarks("short-lived", 0, T).unwrap();
        if low > 0 {
            assert_eq!(high, 200);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "retention never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let segments = std::fs::read_dir(c.data_dir().join("short-lived-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert_eq!(segments, 1, "only the active segment is left");
}

#[test]
fn perf_produces_and_consumes_every_record() {
    let c = Connectd::start("");
    c.cli(&["topics", "create", "perf", "--partitions", "3"], None);
    let produced = c.cli(
        &[
            "perf",
            "produce",
            "--topic",
            "perf",
            "--num-records",
            "30000",
            "--record-size",
            "200",
        ],
        None,
    );
    assert!(
        produced.starts_with("produce: 30000 records, 6000000 bytes"),
        "{produced}"
    );
    // Every record was acknowledged: the partitions' end offsets add up to it, as an rdkafka
    // consumer reads them.
    let consumer: BaseConsumer = c.client().set("group.id", "perf-check").create().unwrap();
    let ends: Vec<i64> = (0..3)
        .map(|p| {
            consumer
                .fetch_watermarks("perf", p, Duration::from_secs(5))
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(ends.iter().sum::<i64>(), 30_000);
    let consumed = c.cli(
        &["perf", "consume", "--topic", "perf", "--messages", "30000"],
        None,
    );
    assert!(
        consumed.starts_with("consume: 30000 records, 6000000 bytes"),
        "{consumed}"
    );
    // Without --messages it reads every partition to its end; --partitions reads only those,
    // so two processes can share a topic; a partition the topic lacks is refused.
    let all = c.cli(&["perf", "consume", "--topic", "perf"], None);
    assert!(all.starts_with("consume: 30000 records,"), "{all}");
    let two = c.cli(
        &["perf", "consume", "--topic", "perf", "--partitions", "0,2"],
        None,
    );
    let expected = format!("consume: {} records,", ends[0] + ends[2]);
    assert!(two.starts_with(&expected), "{two} (expected {expected})");
    let (ok, _, err) = crate::support::cli_status(
        &c.bootstrap(),
        &["perf", "consume", "--topic", "perf", "--partitions", "3"],
        None,
    );
    assert!(
        !ok && err.contains("perf has no partition 3 (it has 3)"),
        "{err}"
    );
    // `-X` sets librdkafka properties: tiny fetches still read every record. It overrides
    // perf's own settings: perf sets `fetch.max.bytes` to 1 MiB itself, so librdkafka refuses
    // 1000 (below `message.max.bytes`) only if the user's value is the one it gets. librdkafka
    // also refuses a property it does not know, and a malformed `-X` is refused up front.
    let small_fetches = c.cli(
        &[
            "perf",
            "consume",
            "--topic",
            "perf",
            "--messages",
            "30000",
            "-X",
            "max.partition.fetch.bytes=4096",
            "-X",
            "fetch.max.bytes=1000000",
        ],
        None,
    );
    assert!(
        small_fetches.starts_with("consume: 30000 records, 6000000 bytes"),
        "{small_fetches}"
    );
    for (property, expected) in [
        (
            "fetch.max.bytes=1000",
            "`fetch.max.bytes` must be >= `message.max.bytes`",
        ),
        ("no.such.property=1", "no.such.property"),
        ("novalue", "expected key=value"),
    ] {
        let args = [
            "perf",
            "consume",
            "--topic",
            "perf",
            "--messages",
            "1",
            "-X",
            property,
        ];
        let (ok, _, err) = crate::support::cli_status(&c.bootstrap(), &args, None);
        assert!(!ok && err.contains(expected), "{err}");
    }
}
