//! Exactly-once sources whatever a delivery spans: a keyed datagen source with two tasks into
//! a 4-partition topic, and a datagen source with two tasks routed by a field into four
//! topics of 3 partitions. connectd is killed with kill -9 at random moments while they run
//! (300,000 records each), and restarted; afterwards a librdkafka consumer finds every record
//! once, each key in one partition, in order. The same with the worker over the wire, against
//! connectd's broker and against tansu.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::{Connectd, Read, read_all};
use rand::{Rng, SeedableRng};

const PER_TASK: u64 = 150_000;
const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// Asserts every (task, id) of two tasks, `per_task` each, is there once, each key stays in
/// one partition of a topic, and each task's records of a key in a topic come in id order.
fn assert_exactly_once(what: &str, records: &[Read], per_task: u64) {
    let mut seen: HashMap<(u64, u64), usize> = HashMap::new();
    let mut key_partition: HashMap<(&str, &str), i32> = HashMap::new();
    let mut last_id: HashMap<(u64, &str, &str), u64> = HashMap::new();
    for r in records {
        let id = r.value["id"].as_u64().unwrap();
        let task = r.value["task"].as_u64().unwrap();
        *seen.entry((task, id)).or_default() += 1;
        let first = *key_partition
            .entry((&r.topic, &r.key))
            .or_insert(r.partition);
        assert_eq!(
            first, r.partition,
            "{what}: key {} in two partitions of {}",
            r.key, r.topic
        );
        if let Some(before) = last_id.insert((task, &r.topic, &r.key), id) {
            assert!(
                before < id,
                "{what}: task {task} key {} has id {id} after {before}",
                r.key
            );
        }
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    let missing: Vec<_> = (0..2)
        .flat_map(|t| (0..per_task).map(move |id| (t, id)))
        .filter(|k| !seen.contains_key(k))
        .take(5)
        .collect();
    assert!(
        doubled.is_empty() && missing.is_empty() && seen.len() as u64 == 2 * per_task,
        "{what}: {} records, {} distinct; doubled (task, id) e.g. {doubled:?}; missing e.g. {missing:?}",
        records.len(),
        seen.len()
    );
}

/// kill -9 and restart `c` `times`, each `after` ms after the last, at random (the seed is
/// printed).
fn kill_at_random_moments(c: &mut Connectd, times: usize, after: std::ops::Range<u64>) {
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill moments from seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for _ in 0..times {
        std::thread::sleep(Duration::from_millis(rng.random_range(after.clone())));
        c.kill9();
        c.restart();
    }
}

/// The data topics, created before the sources start so they find them with their partitions:
/// `keyed` (4 partitions) and one topic of 3 partitions per level.
fn create_topics(bootstrap: &str) -> Vec<(String, i32)> {
    let mut topics = vec![("keyed".to_string(), 4)];
    topics.extend(LEVELS.iter().map(|l| (format!("level.{l}"), 3)));
    for (topic, partitions) in &topics {
        let partitions = partitions.to_string();
        let create = [
            "topics",
            "create",
            "--topic",
            topic,
            "--partitions",
            &partitions,
        ];
        crate::support::cli(bootstrap, &create, None);
    }
    topics
}

/// The keyed source into `keyed` and the source routed by its records' level, each of two
/// tasks making [`PER_TASK`] records at `rate` a second per task.
fn write_sources(connectors: &std::path::Path, rate: u32) {
    let source = |topic: &str| {
        format!(
            "plugin = \"datagen-source\"\ntopic = \"{topic}\"\n\"tasks.max\" = 2\nrate = {rate}\niterations = {PER_TASK}\n\"poll.batch.size\" = 500\n"
        )
    };
    std::fs::write(connectors.join("keyed.toml"), source("keyed")).unwrap();
    let routed = source("unrouted")
        + "transforms = \"by_level\"\n\"transforms.by_level.type\" = \"route\"\n\"transforms.by_level.field\" = \"level\"\n\"transforms.by_level.topic.format\" = \"level.${field}\"\n";
    std::fs::write(connectors.join("routed.toml"), routed).unwrap();
}

/// Reads both sources' topics at `bootstrap` and checks each record is there once, in order,
/// each key in one partition, the routed ones in their level's topic; `log` must show a
/// restart that found records past the stored offsets.
fn assert_both_exactly_once(bootstrap: &str, topics: &[(String, i32)], log: &str) {
    let keyed = read_all(
        bootstrap,
        &[("keyed", 4)],
        2 * PER_TASK as usize,
        Duration::from_secs(240),
    );
    let level_topics: Vec<(&str, i32)> = topics[1..].iter().map(|(t, _)| (t.as_str(), 3)).collect();
    let routed = read_all(
        bootstrap,
        &level_topics,
        2 * PER_TASK as usize,
        Duration::from_secs(60),
    );
    let about_routed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("routed"))
        .take(20)
        .collect();
    assert!(
        !routed.is_empty(),
        "nothing reached the level topics; the log says:\n{}",
        about_routed.join("\n")
    );
    assert!(
        log.contains("not sent twice"),
        "no restart found records past the stored offsets; the kills tested nothing new"
    );
    assert_exactly_once("keyed", &keyed, PER_TASK);
    assert_exactly_once("routed", &routed, PER_TASK);
    for r in &routed {
        let level = r.value["level"].as_str().unwrap();
        assert_eq!(r.topic, format!("level.{level}"));
    }
    let partitions: std::collections::BTreeSet<i32> = keyed.iter().map(|r| r.partition).collect();
    assert_eq!(partitions.len(), 4, "keys spread over all 4 partitions");
}

#[test]
fn keyed_and_routed_sources_are_exactly_once_across_kill9() {
    let mut c = Connectd::with_connectors(
        &[
            ("connectd-datagen-source", "datagen-source"),
            ("connectd-route", "route"),
        ],
        &[],
    );
    let topics = create_topics(&c.bootstrap());
    write_sources(&c.dir.path().join("connectors.d"), 7500);
    // kill -9 at random moments while the 20 s run goes on.
    kill_at_random_moments(&mut c, 4, 1000..4000);
    assert_both_exactly_once(&c.bootstrap(), &topics, &c.log_text());
}

/// The same guarantee through the Kafka backend (`[broker] mode = "kafka"`, librdkafka, polls
/// pipelined while earlier ones await their acknowledgements): a worker with no broker of its
/// own runs the keyed and the routed source, and a file sink of the keyed topic, against
/// another connectd reached over the wire, and is killed with kill -9 at random moments.
#[test]
fn kafka_backend_over_the_wire_is_exactly_once() {
    let cluster = Connectd::start("");
    let worker = kafka_backend_exactly_once(&cluster.bootstrap(), true);
    let groups = cluster.cli(&["groups", "describe", "connect-sink"], None);
    assert!(
        groups.contains("keyed"),
        "the sink committed through the cluster: {groups}"
    );
    // The worker's status page shows the cluster's topics and groups, read over the wire:
    // `keyed` ends after its 300,000 records, and the sink's group has read them all.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: serde_json::Value = ureq::get(&format!("{}/ui/cluster", worker.api()))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let named = |list: &str, key: &str, name: &str| {
            page[list]
                .as_array()
                .and_then(|l| l.iter().find(|x| x[key] == name).cloned())
        };
        let keyed = named("topics", "name", "keyed");
        let ends: Vec<i64> = keyed
            .iter()
            .flat_map(|t| t["partitions"].as_array().cloned().unwrap_or_default())
            .map(|p| p["end_offset"].as_i64().unwrap())
            .collect();
        let sink = named("groups", "group", "connect-sink");
        if ends.len() == 4
            && ends.iter().sum::<i64>() == 2 * PER_TASK as i64
            && sink.is_some_and(|g| g["lag"] == 0 && g["partitions"].as_array().unwrap().len() == 4)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the status page's topics and groups: {page}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The same against tansu 0.6 (`cargo install tansu --features dynostore`, in tests/setup),
/// a Kafka-compatible broker no one here wrote, in memory on loopback. It creates no topic
/// by itself: the test creates the data topics, the worker its internal topics. A bug of
/// tansu 0.6's in-memory store (`dynostore.rs`) shapes the sink's part (README, "A worker
/// over the wire"): `produce` takes a batch's offsets before it stores the batch, so while
/// two producers write one partition a reader at its end can see a later batch before an
/// earlier one and read past the earlier: the sink starts once the sources are done, and runs
/// to the end (the test against connectd's broker kills its sink). Its `fetch` from inside a
/// batch, which answers from the next batch on, the worker works around, tested by
/// [`kafka_backend_resumes_inside_a_batch_on_tansu`].
#[test]
fn kafka_backend_on_tansu_is_exactly_once() {
    let tansu = crate::support::Tansu::start();
    kafka_backend_exactly_once(&tansu.bootstrap, false);
}

/// A sink resuming from a committed offset inside a record batch gets the rest of that batch,
/// even from tansu 0.6, which answers a fetch from inside a batch from the next batch on (and
/// with nothing when it is the last): the worker's consumer starts fetching one batch early
/// and drops what is below its position. One batch of 10 records (librdkafka lingering), the
/// group `connect-resume` committed at 5: the sink writes records 5 to 9, once each.
#[test]
fn kafka_backend_resumes_inside_a_batch_on_tansu() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let tansu = crate::support::Tansu::start();
    let create = [
        "topics",
        "create",
        "--topic",
        "batched",
        "--partitions",
        "1",
    ];
    crate::support::cli(&tansu.bootstrap, &create, None);
    let client = |extra: &[(&str, &str)]| {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &tansu.bootstrap);
        for (k, v) in extra {
            config.set(*k, *v);
        }
        config
    };
    let producer: BaseProducer = client(&[("linger.ms", "1000")]).create().unwrap();
    for i in 0..10 {
        let value = format!("record {i}");
        producer
            .send(
                BaseRecord::<(), _>::to("batched")
                    .partition(0)
                    .payload(&value),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let group: rdkafka::consumer::BaseConsumer =
        client(&[("group.id", "connect-resume")]).create().unwrap();
    let mut at_5 = TopicPartitionList::new();
    at_5.add_partition_offset("batched", 0, Offset::Offset(5))
        .unwrap();
    rdkafka::consumer::Consumer::commit(&group, &at_5, rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    let worker = Connectd::start_with(
        crate::support::WORKER,
        &format!(
            "mode = \"kafka\"\nbootstrap_servers = \"{}\"",
            tansu.bootstrap
        ),
        |dir| {
            crate::connectors::install(dir, &[("connectd-file-sink", "file-sink")]);
            std::fs::write(
                dir.join("connectors.d/resume.toml"),
                "plugin = \"file-sink\"\ntopics = \"batched\"\nfile = \"../output/resume.txt\"\n",
            )
            .unwrap();
        },
    );
    let output = worker.dir.path().join("output/resume.txt");
    let read = || std::fs::read_to_string(&output).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while read().lines().count() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    // Anything written twice or from before the commit would show by now.
    std::thread::sleep(Duration::from_secs(2));
    let expected: String = (5..10).map(|i| format!("record {i}\n")).collect();
    assert_eq!(
        read(),
        expected,
        "the sink resumed at offset 5 of a 10-record batch:\n{}",
        worker.log_text()
    );
}

/// The keyed and routed sources (2 tasks, 150,000 records each, 20,000 a second per task)
/// and a file sink of `keyed` (from the start, or with `sink_follows` false once the sources
/// are done) on a worker using the cluster at `bootstrap`, killed three times while records
/// are on their way: the topics hold every record once and the sink wrote every one.
fn kafka_backend_exactly_once(bootstrap: &str, sink_follows: bool) -> Connectd {
    let topics = create_topics(bootstrap);
    let sink = "plugin = \"file-sink\"\ntopics = \"keyed\"\nfile = \"../output/wire.txt\"\n";
    let mut worker = Connectd::start_with(
        crate::support::WORKER,
        &format!("mode = \"kafka\"\nbootstrap_servers = \"{bootstrap}\""),
        |dir| {
            crate::connectors::install(
                dir,
                &[
                    ("connectd-datagen-source", "datagen-source"),
                    ("connectd-route", "route"),
                    ("connectd-file-sink", "file-sink"),
                ],
            );
            write_sources(&dir.join("connectors.d"), 20_000);
            if sink_follows {
                std::fs::write(dir.join("connectors.d/sink.toml"), sink).unwrap();
            }
        },
    );
    kill_at_random_moments(&mut worker, 3, 1000..4000);
    assert_both_exactly_once(bootstrap, &topics, &worker.log_text());
    if !sink_follows {
        std::fs::write(worker.dir.path().join("connectors.d/sink.toml"), sink).unwrap();
    }
    // The sink (at least once) lost nothing.
    let output = worker.dir.path().join("output/wire.txt");
    let deadline = Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        let ids: std::collections::HashSet<(u64, u64)> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| (v["task"].as_u64().unwrap(), v["id"].as_u64().unwrap()))
            .collect();
        if ids.len() as u64 == 2 * PER_TASK || Instant::now() > deadline {
            break ids;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        lines.len() as u64,
        2 * PER_TASK,
        "the sink wrote every record"
    );
    worker
}

/// A cluster that does not answer fails the start, saying which setting to check.
#[test]
fn kafka_backend_names_an_unreachable_cluster() {
    let (_dir, config) = crate::support::kafka_worker("127.0.0.1:9", "", "");
    let (ok, _, err) = crate::support::run_tool(
        env!("CARGO_BIN_EXE_connectd"),
        &["--config", config.to_str().unwrap()],
        None,
    );
    assert!(
        !ok && err.contains("127.0.0.1:9") && err.contains("bootstrap_servers"),
        "{err}"
    );
}
