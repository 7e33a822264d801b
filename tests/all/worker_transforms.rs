//! Transforms, error tolerance and the dead letter queue, datagen, sink tasks sharing
//! partitions, and the example custom connector: each built from source as a component and
//! run by a real connectd, checked with a librdkafka consumer.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::connectors::install;
use crate::support::Connectd;
use connectd_sdk::{Config, PollRecords as _, Resume, Source as _};

fn wait_for_lines(path: &Path, n: usize, timeout: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || start.elapsed() > timeout {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const WORKER: &str = "plugin_dir = \"plugins\"\nconnectors_dir = \"connectors.d\"";

#[test]
fn transforms_filter_and_mask_and_bad_records_go_to_the_dead_letter_queue() {
    let c = Connectd::start_with(WORKER, "", |dir| {
        install(
            dir,
            &[
                ("connectd-datagen-source", "datagen-source"),
                ("connectd-file-source", "file-source"),
                ("connectd-file-sink", "file-sink"),
                ("connectd-filter", "filter"),
                ("connectd-fields", "fields"),
            ],
        );
        let mut mixed = String::new();
        for i in 0..300 {
            mixed.push_str(&match i % 3 {
                0 => format!("{{\"level\":\"error\",\"n\":{i}}}\n"),
                1 => format!("{{\"level\":\"info\",\"n\":{i}}}\n"),
                _ => format!("not json {i}\n"),
            });
        }
        std::fs::write(dir.join("input/mixed.txt"), mixed).unwrap();
        let files = [
            (
                "gen.toml",
                concat!(
                    "plugin = \"datagen-source\"\ntopic = \"events\"\nrate = 0\niterations = 2000\n",
                    "\"poll.batch.size\" = 300\ntransforms = \"important, hide\"\n",
                    "\"transforms.important.type\" = \"filter\"\n",
                    "\"transforms.important.field\" = \"level\"\n",
                    "\"transforms.important.pattern\" = \"^(warn|error)$\"\n",
                    "\"transforms.hide.type\" = \"fields\"\n",
                    "\"transforms.hide.mask.fields\" = \"user\"\n",
                    "\"transforms.hide.static.field\" = \"env\"\n",
                    "\"transforms.hide.static.value\" = \"test\"\n",
                ),
            ),
            (
                "mixed.toml",
                "plugin = \"file-source\"\ntopic = \"mixed\"\nfile = \"../input/mixed.txt\"\n",
            ),
            (
                "errors.toml",
                concat!(
                    "plugin = \"file-sink\"\ntopics = \"mixed\"\nfile = \"../output/errors.txt\"\n",
                    "transforms = \"onlyErrors\"\n\"transforms.onlyErrors.type\" = \"filter\"\n",
                    "\"transforms.onlyErrors.field\" = \"level\"\n",
                    "\"transforms.onlyErrors.pattern\" = \"^error$\"\n",
                    "\"errors.tolerance\" = \"all\"\n",
                    "\"errors.deadletterqueue.topic.name\" = \"mixed-dlq\"\n",
                ),
            ),
            // The same sink without tolerance fails on the first line that is not JSON.
            (
                "strict.toml",
                concat!(
                    "plugin = \"file-sink\"\ntopics = \"mixed\"\nfile = \"../output/strict.txt\"\n",
                    "transforms = \"onlyErrors\"\n\"transforms.onlyErrors.type\" = \"filter\"\n",
                    "\"transforms.onlyErrors.field\" = \"level\"\n",
                    "\"transforms.onlyErrors.pattern\" = \"^error$\"\n",
                ),
            ),
            (
                "typo.toml",
                concat!(
                    "plugin = \"file-sink\"\ntopics = \"mixed\"\nfile = \"../output/typo.txt\"\n",
                    "transforms = \"x\"\n\"transforms.x.type\" = \"no-such-transform\"\n",
                ),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.join("connectors.d").join(name), text).unwrap();
        }
    });

    // datagen -> filter -> fields -> topic: exactly the warn/error records, masked and stamped.
    let mut generator = connectd_datagen_source::Datagen::open(
        Config::from_pairs([("topic", "events"), ("rate", "0"), ("iterations", "2000")]),
        Resume::default(),
    )
    .unwrap();
    let expected: Vec<u64> = generator
        .poll_records(2000)
        .unwrap()
        .iter()
        .filter_map(|r| {
            let v: serde_json::Value = serde_json::from_slice(r.value.as_ref()?).unwrap();
            matches!(v["level"].as_str(), Some("warn" | "error")).then(|| v["id"].as_u64().unwrap())
        })
        .collect();
    assert!(expected.len() > 500 && expected.len() < 1500);
    let events = c.read_topic("events", expected.len() + 1, Duration::from_secs(30));
    let mut ids = Vec::new();
    for e in &events {
        let v: serde_json::Value = serde_json::from_str(&e.text).unwrap();
        assert_eq!(v["user"], "", "masked: {}", e.text);
        assert_eq!(v["env"], "test", "inserted: {}", e.text);
        ids.push(v["id"].as_u64().unwrap());
    }
    assert_eq!(
        ids, expected,
        "every warn/error record once, in order, nothing else"
    );

    // file -> topic -> filter -> file-sink, with the lines that are not JSON dead-lettered.
    let out = wait_for_lines(
        &c.dir.path().join("output/errors.txt"),
        100,
        Duration::from_secs(30),
    );
    let want: Vec<String> = (0..300)
        .step_by(3)
        .map(|i| format!("{{\"level\":\"error\",\"n\":{i}}}"))
        .collect();
    assert_eq!(out, want);
    let dead = c.read_topic("mixed-dlq", 100, Duration::from_secs(30));
    assert_eq!(dead.len(), 100);
    for (k, d) in dead.iter().enumerate() {
        let i = 3 * k + 2;
        assert_eq!(d.text, format!("not json {i}"));
        let h = |key: &str| d.headers.get(key).map(String::as_str).unwrap_or_default();
        assert_eq!(h("__connect.errors.topic"), "mixed");
        assert_eq!(h("__connect.errors.partition"), "0");
        assert_eq!(h("__connect.errors.offset"), i.to_string());
        assert_eq!(h("__connect.errors.connector.name"), "errors");
        assert_eq!(h("__connect.errors.stage"), "TRANSFORMATION");
        assert_eq!(h("__connect.errors.class.name"), "onlyErrors");
        assert_eq!(h("__connect.errors.exception.class.name"), "bad-record");
        assert!(
            h("__connect.errors.exception.message").contains("not JSON"),
            "{:?}",
            d.headers
        );
    }

    // Without tolerance the task fails, says why and how to skip, and the rest kept running.
    let status = c.cli(&["connectors", "status"], None);
    let strict = status
        .lines()
        .find(|l| l.starts_with("strict\t0\t"))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        strict.contains("FAILED") && strict.contains("errors.tolerance"),
        "{status}"
    );
    assert!(
        status.lines().any(|l| l.starts_with("typo\t-\tFAILED")
            && l.contains("typo.toml")
            && l.contains("transforms.x.type")
            && l.contains("no-such-transform")),
        "{status}"
    );
    let strict_out = std::fs::read_to_string(c.dir.path().join("output/strict.txt")).unwrap();
    assert!(
        strict_out.is_empty(),
        "a failed batch is not written: {strict_out}"
    );
}

#[test]
fn sink_tasks_share_partitions_and_the_example_connector_runs() {
    let c = Connectd::start_with(WORKER, "", |dir| {
        install(
            dir,
            &[
                ("connectd-datagen-source", "datagen-source"),
                ("connectd-file-sink", "file-sink"),
                ("ticker-source", "ticker"),
            ],
        );
        std::fs::write(
            dir.join("connectors.d/ticks.toml"),
            "plugin = \"ticker\"\ntopic = \"ticks\"\n\"interval.ms\" = 20\nmessage = \"hello\"\n",
        )
        .unwrap();
    });
    c.cli(&["topics", "create", "keyed", "--partitions", "4"], None);
    let d = c.dir.path().join("connectors.d");
    std::fs::write(
        d.join("gen.toml"),
        "plugin = \"datagen-source\"\ntopic = \"keyed\"\nrate = 0\niterations = 3000\n",
    )
    .unwrap();
    std::fs::write(
        d.join("out.toml"),
        "plugin = \"file-sink\"\ntopics = \"keyed\"\nfile = \"../output/keyed-${env:CONNECTD_TEST_SUFFIX}.txt\"\n\"tasks.max\" = 2\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // A config the plugin's own schema refuses fails before any task opens, with every
    // wrong key named and its value left out of the message.
    std::fs::write(
        d.join("misconfigured.toml"),
        "plugin = \"datagen-source\"\ntopic = \"unused\"\nrate = \"fast\"\n\"record.bytes\" = -5\n",
    )
    .unwrap();
    // The suffix comes from the worker's environment; it is unset here, so that connector
    // fails with the variable named, until the file is rewritten without it.
    std::thread::sleep(Duration::from_secs(1));
    let status = c.cli(&["connectors", "status"], None);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("out\t-\tFAILED") && l.contains("CONNECTD_TEST_SUFFIX")),
        "{status}"
    );
    let misconfigured = status
        .lines()
        .find(|l| l.starts_with("misconfigured\t-\tFAILED"))
        .unwrap_or_else(|| panic!("{status}"));
    for part in [
        "misconfigured.toml",
        "key `rate`: expected a number",
        "key `record.bytes`: expected at least 0",
    ] {
        assert!(misconfigured.contains(part), "{part}: {misconfigured}");
    }
    assert!(!misconfigured.contains("fast"), "{misconfigured}");
    let mut f = std::fs::File::create(d.join("out.toml")).unwrap();
    f.write_all(b"plugin = \"file-sink\"\ntopics = \"keyed\"\nfile = \"../output/keyed.txt\"\n\"tasks.max\" = 2\n")
        .unwrap();
    drop(f);
    let lines = wait_for_lines(
        &c.dir.path().join("output/keyed.txt"),
        3000,
        Duration::from_secs(30),
    );
    let mut ids: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..3000).collect::<Vec<u64>>());
    let status = c.cli(&["connectors", "status"], None);
    for task in ["out\t0\tRUNNING", "out\t1\tRUNNING"] {
        assert!(status.lines().any(|l| l.starts_with(task)), "{status}");
    }
    // Both tasks had work: the group's committed offsets cover all 4 partitions.
    let group = c.cli(&["groups", "describe", "connect-out"], None);
    assert_eq!(
        group.lines().filter(|l| l.starts_with("keyed")).count(),
        4,
        "{group}"
    );

    // The example connector from examples/ticker-source ran from its own .wasm.
    let ticks = c.read_topic("ticks", 5, Duration::from_secs(20));
    assert!(ticks.len() >= 5);
    for (n, t) in ticks.iter().enumerate() {
        assert_eq!(t.text, format!("{{\"tick\":{n},\"message\":\"hello\"}}"));
    }
}
