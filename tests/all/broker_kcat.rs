//! Debian's kcat (librdkafka 2.0.2, an older generation than the rdkafka crate's 2.12) against
//! connectd: metadata, produce with keys and every codec, consume from the beginning, and a
//! balanced consumer group.

use crate::support::{Connectd, run_tool};

fn kcat(c: &Connectd, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = crate::support::kcat(&c.bootstrap(), args, stdin);
    assert!(ok, "kcat {args:?} failed: {err}");
    out
}

#[test]
fn kcat_metadata_produce_consume_group() {
    let (ok, version, _) = run_tool("kcat", &["-V"], None);
    assert!(ok && version.contains("librdkafka"), "kcat -V: {version}");
    let c = Connectd::start("");
    c.cli(
        &["topics", "create", "kcat-topic", "--partitions", "3"],
        None,
    );

    let metadata = kcat(&c, &["-L", "-J"], None);
    let md: serde_json::Value = serde_json::from_str(&metadata).unwrap();
    let topic = md["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "kcat-topic")
        .unwrap();
    assert_eq!(topic["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(
        md["brokers"][0]["name"].as_str().unwrap(),
        format!("127.0.0.1:{}", c.port)
    );

    let mut expected = Vec::new();
    for codec in ["none", "gzip", "snappy", "lz4"] {
        let input: String = (0..200)
            .map(|i| format!("{codec}-key-{i}:{codec}-value-{i}\n"))
            .collect();
        kcat(
            &c,
            &["-P", "-t", "kcat-topic", "-K", ":", "-z", codec],
            Some(&input),
        );
        expected.extend((0..200).map(|i| format!("{codec}-key-{i}={codec}-value-{i}")));
    }
    let out = kcat(
        &c,
        &[
            "-C",
            "-t",
            "kcat-topic",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k=%s\\n",
        ],
        None,
    );
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    // A balanced consumer group reads everything once and commits.
    let grouped = kcat(
        &c,
        &[
            "-G",
            "kcat-group",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%p:%o\\n",
            "kcat-topic",
        ],
        None,
    );
    assert_eq!(grouped.lines().count(), 800, "group read everything once");
    let described = c.cli(&["groups", "describe", "kcat-group"], None);
    let lag: i64 = described
        .lines()
        .filter(|l| l.starts_with("kcat-topic\t"))
        .map(|l| l.split('\t').nth(4).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(lag, 0, "{described}");
}

/// A compacted topic with 50 updates to each of 40 keys and a tombstone: after the cleaner
/// runs, kcat reading from the beginning sees each key once with its latest value (the
/// tombstone as a null), and far fewer records than were written.
#[test]
fn kcat_reads_a_compacted_topic() {
    let c = Connectd::start("log_cleaner_backoff_ms = 200");
    c.cli(
        &[
            "topics",
            "create",
            "--topic",
            "compacted",
            "--partitions",
            "1",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "segment.bytes=8192",
            "--config",
            "min.cleanable.dirty.ratio=0.01",
        ],
        None,
    );
    let mut input = String::new();
    for round in 0..50 {
        for key in 0..40 {
            input.push_str(&format!("key-{key:02}:value {key} round {round}\n"));
        }
    }
    kcat(
        &c,
        &["-P", "-t", "compacted", "-K", ":", "-z", "gzip"],
        Some(&input),
    );
    // A tombstone for key 39 (kcat -Z sends an empty value as null), then enough of another
    // key to push every update into closed segments.
    kcat(
        &c,
        &["-P", "-t", "compacted", "-K", ":", "-Z"],
        Some("key-39:\n"),
    );
    let filler: String = (0..40)
        .map(|i| format!("filler:{}\n", "f".repeat(400 + i)))
        .collect();
    kcat(&c, &["-P", "-t", "compacted", "-K", ":"], Some(&filler));

    let start = std::time::Instant::now();
    while !c.log_text().contains("compacted") || !c.log_text().contains("records_removed") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no compaction pass:\n{}",
            c.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = kcat(
        &c,
        &[
            "-C",
            "-t",
            "compacted",
            "-o",
            "beginning",
            "-e",
            "-Z",
            "-f",
            "%k=%s\n",
        ],
        None,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.len() < 2000 / 4,
        "{} records left of 2081 written",
        lines.len()
    );
    let mut last = std::collections::BTreeMap::new();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for line in &lines {
        let (key, value) = line.split_once('=').unwrap();
        last.insert(key, value);
        *counts.entry(key).or_default() += 1;
    }
    for key in 0..39 {
        let key_name = format!("key-{key:02}");
        assert_eq!(
            last.get(key_name.as_str()).copied(),
            Some(format!("value {key} round 49").as_str()),
            "{key_name}"
        );
        assert_eq!(counts[key_name.as_str()], 1, "{key_name} once");
    }
    assert_eq!(
        last.get("key-39").copied(),
        Some("NULL"),
        "the tombstone is kept"
    );
}
