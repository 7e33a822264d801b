//! The connector runtime end to end: the file-source component (built from
//! connectors/file-source) dropped into plugin_dir, a connector file in connectors_dir, lines
//! appended while connectd runs, kill -9 mid-stream, restart: the topic holds every line once,
//! in order.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::support::{Connectd, read_to_end};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// The values of partition 0 of `topic`, as [`Connectd::read_topic`] reads them.
fn read_topic(c: &Connectd, topic: &str, expect: usize, timeout: Duration) -> Vec<String> {
    c.read_topic(topic, expect, timeout)
        .into_iter()
        .map(|r| r.text)
        .collect()
}

#[test]
fn file_source_into_topic_survives_kill9() {
    let wasm = crate::connectors::build_connector("connectd-file-source");
    let sink_wasm = crate::connectors::build_connector("connectd-file-sink");
    let mut c = Connectd::start_with(
        "plugin_dir = \"plugins\"\nconnectors_dir = \"connectors.d\"",
        "",
        |dir| {
            std::fs::create_dir_all(dir.join("plugins")).unwrap();
            std::fs::copy(&wasm, dir.join("plugins/file-source.wasm")).unwrap();
            std::fs::copy(&sink_wasm, dir.join("plugins/file-sink.wasm")).unwrap();
            std::fs::create_dir_all(dir.join("output")).unwrap();
            std::fs::create_dir_all(dir.join("connectors.d")).unwrap();
            std::fs::create_dir_all(dir.join("input")).unwrap();
            std::fs::write(dir.join("input/lines.txt"), "").unwrap();
            std::fs::write(dir.join("connectors.d/lines.toml"), "plugin = \"file-source\"\ntopic = \"lines\"\nfile = \"../input/lines.txt\"\n\"poll.batch.size\" = 200\n").unwrap();
            std::fs::write(
                dir.join("connectors.d/out.toml"),
                "plugin = \"file-sink\"\ntopics = \"lines\"\nfile = \"../output/out.txt\"\n",
            )
            .unwrap();
            // A broken connector file must not stop the good one.
            std::fs::write(dir.join("connectors.d/broken.toml"), "plugin = = nope\n").unwrap();
        },
    );
    let input = c.dir.path().join("input/lines.txt");
    let total = 20_000;
    let appender = std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        for i in 0..total {
            writeln!(file, "line {i:05}").unwrap();
            if i % 100 == 99 {
                file.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        file.flush().unwrap();
    });
    // kill -9 at several moments while lines keep arriving.
    for pause in [300, 450, 200, 600] {
        std::thread::sleep(Duration::from_millis(pause));
        c.kill9();
        c.restart();
    }
    appender.join().unwrap();
    let lines = read_topic(&c, "lines", total, Duration::from_secs(60));
    let expected: Vec<String> = (0..total).map(|i| format!("line {i:05}")).collect();
    if lines.len() != total {
        let mut seen = std::collections::HashSet::new();
        let doubled: Vec<&String> = lines.iter().filter(|l| !seen.insert(*l)).collect();
        let dump = c.cli(
            &[
                "consume",
                "--topic",
                "lines",
                "--from-beginning",
                "--max-messages",
                &lines.len().to_string(),
                "--print-offset",
                "--timeout-ms",
                "10000",
            ],
            None,
        );
        let first = doubled.first().map(|s| s.as_str()).unwrap_or("-");
        let at: Vec<&str> = dump.lines().filter(|l| l.ends_with(first)).collect();
        // Where the source positions were marked around there.
        let consumer = crate::support::reader(&c.bootstrap());
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("lines", 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut marks = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            use rdkafka::message::Headers as _;
            if let Some(h) = m.headers() {
                for h in h.iter() {
                    marks.push(format!(
                        "{}:{}",
                        m.offset(),
                        String::from_utf8_lossy(h.value.unwrap_or_default())
                    ));
                }
            }
        }
        let dup_at: Vec<i64> = at
            .iter()
            .filter_map(|l| l.strip_prefix("Offset:")?.split('\t').next()?.parse().ok())
            .collect();
        let (lo, hi) = (dup_at[0] - 400, dup_at[dup_at.len() - 1] + 10);
        let near: Vec<&String> = marks
            .iter()
            .filter(|m| {
                let o: i64 = m.split(':').next().unwrap().parse().unwrap();
                o >= lo && o <= hi
            })
            .collect();
        eprintln!("markers near: {near:?}");
        // The batches on disk around there: base offset, records, marked or not.
        let dir = c.data_dir().join("lines-0");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let mut pos = 0;
            while pos + 61 <= data.len() {
                let base = i64::from_be_bytes(data[pos..pos + 8].try_into().unwrap());
                let len = u32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap()) as usize;
                let delta = i32::from_be_bytes(data[pos + 23..pos + 27].try_into().unwrap());
                let end = (pos + 12 + len).min(data.len());
                let marked = data[pos..end].windows(14).any(|w| w == b"connectd.sourc");
                if base + i64::from(delta) >= lo && base <= hi {
                    eprintln!(
                        "batch {base}..={} at byte {pos}: {} bytes, marked {marked}",
                        base + i64::from(delta),
                        12 + len
                    );
                }
                pos += 12 + len;
            }
        }
        panic!(
            "every line exactly once: got {} records; doubled: {:?} .. {:?}, first at {:?}\n{}",
            lines.len(),
            doubled.first(),
            doubled.last(),
            at,
            c.log_text()
        );
    }
    assert_eq!(lines, expected, "in order");
    // The sink file has every line, in order; a line may repeat only as part of a replayed,
    // uncommitted tail after a kill.
    let out = c.dir.path().join("output/out.txt");
    let start = Instant::now();
    let sunk = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.lines().any(|l| l == expected[total - 1])
            || start.elapsed() > Duration::from_secs(60)
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut next = 0;
    let mut replayed = 0;
    for line in sunk.lines() {
        let index: usize = line.trim_start_matches("line ").parse().unwrap();
        if index == next {
            next += 1;
        } else {
            assert!(index < next, "sink skipped from line {next} to {index}");
            replayed += 1;
        }
    }
    assert_eq!(next, total, "the sink file has every line");
    eprintln!("sink replayed {replayed} lines after kills");
    let log = c.log_text();
    assert!(
        log.contains("broken.toml") && log.contains("TOML"),
        "the bad connector file is reported with its name:\n{log}"
    );
}

#[test]
fn a_misbehaving_plugin_fails_alone_and_restarts_with_backoff() {
    let good = crate::connectors::build_connector("connectd-file-source");
    let bad = crate::connectors::build_connector("connectd-test-misbehave");
    let c = Connectd::start_with(
        "plugin_dir = \"plugins\"\nconnectors_dir = \"connectors.d\"\ntask_call_timeout_ms = 300\ntask_memory_bytes = 67108864",
        "",
        |dir| {
            std::fs::create_dir_all(dir.join("plugins")).unwrap();
            std::fs::copy(&good, dir.join("plugins/file-source.wasm")).unwrap();
            std::fs::copy(&bad, dir.join("plugins/misbehave.wasm")).unwrap();
            std::fs::create_dir_all(dir.join("connectors.d")).unwrap();
            std::fs::create_dir_all(dir.join("input")).unwrap();
            std::fs::write(dir.join("input/lines.txt"), "").unwrap();
            std::fs::write(
                dir.join("connectors.d/good.toml"),
                "plugin = \"file-source\"\ntopic = \"good\"\nfile = \"../input/lines.txt\"\n",
            )
            .unwrap();
            for mode in ["loop", "alloc", "panic", "fatal"] {
                std::fs::write(
                    dir.join(format!("connectors.d/bad-{mode}.toml")),
                    format!("plugin = \"misbehave\"\ntopic = \"bad\"\nmode = \"{mode}\"\n"),
                )
                .unwrap();
            }
            std::fs::write(
                dir.join("connectors.d/unknown.toml"),
                "plugin = \"no-such-plugin\"\ntopic = \"x\"\n",
            )
            .unwrap();
        },
    );
    let input = c.dir.path().join("input/lines.txt");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for i in 0..3000 {
        writeln!(file, "line {i:05}").unwrap();
        if i % 300 == 299 {
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    file.flush().unwrap();
    let lines = read_topic(&c, "good", 3000, Duration::from_secs(60));
    assert_eq!(lines.len(), 3000, "the good connector kept flowing");
    // Each bad task failed with its reason, more than once (it restarts with backoff).
    let start = Instant::now();
    loop {
        let log = c.log_text();
        let failures = |needle: &str| {
            log.lines()
                .filter(|l| l.contains("state=FAILED") && l.contains(needle))
                .count()
        };
        let ok = failures("CPU deadline") >= 2
            && failures("memory limit exceeded") >= 2
            && failures("unreachable") >= 2
            && failures("giving up on purpose") >= 2;
        if ok {
            assert!(
                log.contains("unknown.toml") && log.contains("no-such-plugin"),
                "an unknown plugin is reported with the file and key"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "missing FAILED statuses or restarts:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // `connectd connectors status` shows the same, from the status topic.
    let status = c.cli(&["connectors", "status"], None);
    let row = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t0\t")))
            .unwrap_or_else(|| panic!("no task row for {name}:\n{status}"))
            .to_string()
    };
    assert!(row("good").contains("\tRUNNING\t"), "{status}");
    assert!(
        row("bad-loop").contains("\tFAILED\t") && row("bad-loop").contains("CPU deadline"),
        "{status}"
    );
    assert!(
        row("bad-alloc").contains("memory limit exceeded"),
        "{status}"
    );
    assert!(
        row("bad-panic").contains("FAILED") && row("bad-panic").contains("panicking on purpose"),
        "the panic's message reaches the status: {status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("unknown\t-\tFAILED") && l.contains("no-such-plugin")),
        "{status}"
    );
    // The worker's memory stayed bounded while tasks were blowing up.
    let pid = c.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert!(rss_kb < 400 * 1024, "worker RSS {rss_kb} kB");
}

/// The same component with an extra custom section: a new file, a new version, same behaviour.
fn new_version_of(wasm: &[u8], tag: &str) -> Vec<u8> {
    let name = b"connectd-test-version";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(payload.len() as u8); // size (< 128)
    out.extend_from_slice(&payload);
    out
}

#[test]
fn plugins_and_connectors_apply_live() {
    let wasm = crate::connectors::build_connector("connectd-file-source");
    let c = Connectd::start_with(
        "plugin_dir = \"plugins\"\nconnectors_dir = \"connectors.d\"",
        "",
        |dir| {
            std::fs::create_dir_all(dir.join("plugins")).unwrap();
            std::fs::create_dir_all(dir.join("connectors.d")).unwrap();
            std::fs::create_dir_all(dir.join("input")).unwrap();
            std::fs::write(dir.join("input/lines.txt"), "").unwrap();
        },
    );
    let dir = c.dir.path().to_path_buf();
    // A connector whose plugin is not there yet waits, FAILED with the reason.
    std::fs::write(
        dir.join("connectors.d/live.toml"),
        "plugin = \"file-source\"\ntopic = \"live\"\nfile = \"../input/lines.txt\"\n",
    )
    .unwrap();
    let wait_log = |needle: &str| {
        let start = Instant::now();
        while !c.log_text().contains(needle) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "never logged {needle:?}:\n{}",
                c.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_log("no plugin \"file-source\"");
    // Dropping the plugin in makes it usable, and the waiting connector starts.
    std::fs::write(
        dir.join("plugins/file-source.wasm"),
        std::fs::read(&wasm).unwrap(),
    )
    .unwrap();
    let input = dir.join("input/lines.txt");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for i in 0..1000 {
        writeln!(file, "line {i:05}").unwrap();
    }
    file.flush().unwrap();
    assert_eq!(
        read_topic(&c, "live", 1000, Duration::from_secs(30)).len(),
        1000
    );
    // Replacing the plugin while lines keep coming restarts the tasks on the new version;
    // no line is lost or doubled.
    let writer = std::thread::spawn(move || {
        for i in 1000..3000 {
            writeln!(file, "line {i:05}").unwrap();
            if i % 100 == 0 {
                file.flush().unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        file.flush().unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(
        dir.join("plugins/file-source.wasm.tmp"),
        new_version_of(&std::fs::read(&wasm).unwrap(), "v2"),
    )
    .unwrap();
    std::fs::rename(
        dir.join("plugins/file-source.wasm.tmp"),
        dir.join("plugins/file-source.wasm"),
    )
    .unwrap();
    writer.join().unwrap();
    wait_log("connector or a plugin it uses changed; restarting its tasks");
    let lines = read_topic(&c, "live", 3000, Duration::from_secs(30));
    let expected: Vec<String> = (0..3000).map(|i| format!("line {i:05}")).collect();
    assert_eq!(
        lines, expected,
        "every line once, in order, across the plugin swap"
    );
    // Removing the connector file stops it.
    std::fs::remove_file(dir.join("connectors.d/live.toml")).unwrap();
    wait_log("stopped connector");
}

/// The sandbox's edges and secrets: a plugin that writes connectd's offsets topic, or sets
/// connectd's own position header, fails with a clear status and writes nothing; a secret read
/// through `${file:}` appears in no log line, status record or `connectors status` output
/// even when the plugin puts it in its error; a `${file:}` outside
/// `config_providers_file_allowed_paths` is refused, naming the key. A good connector runs on.
#[test]
fn plugins_cannot_reach_internal_topics_and_secrets_stay_hidden() {
    let good = crate::connectors::build_connector("connectd-file-source");
    let bad = crate::connectors::build_connector("connectd-test-misbehave");
    let secret = "Sup3r-S3cret-Value-8812";
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("pw"), "not-allowed-value-5531").unwrap();
    let outside_pw = outside.path().join("pw");
    let c = Connectd::start_with(
        "plugin_dir = \"plugins\"\nconnectors_dir = \"connectors.d\"\nconfig_providers_file_allowed_paths = [\"secrets\"]",
        "",
        |dir| {
            std::fs::create_dir_all(dir.join("plugins")).unwrap();
            std::fs::copy(&good, dir.join("plugins/file-source.wasm")).unwrap();
            std::fs::copy(&bad, dir.join("plugins/misbehave.wasm")).unwrap();
            std::fs::create_dir_all(dir.join("secrets")).unwrap();
            std::fs::write(dir.join("secrets/db-password"), format!("{secret}\n")).unwrap();
            std::fs::create_dir_all(dir.join("input")).unwrap();
            std::fs::write(dir.join("input/lines.txt"), "one\ntwo\nthree\n").unwrap();
            let connectors = dir.join("connectors.d");
            std::fs::create_dir_all(&connectors).unwrap();
            let write = |name: &str, text: String| {
                std::fs::write(connectors.join(format!("{name}.toml")), text).unwrap()
            };
            write(
                "good",
                "plugin = \"file-source\"\ntopic = \"good\"\nfile = \"../input/lines.txt\"\n"
                    .into(),
            );
            for mode in ["internal", "forge"] {
                write(
                    &format!("bad-{mode}"),
                    format!("plugin = \"misbehave\"\ntopic = \"bad\"\nmode = \"{mode}\"\n"),
                );
            }
            write(
                "leak",
                format!(
                    "plugin = \"misbehave\"\ntopic = \"bad\"\nmode = \"leak\"\npassword = \"${{file:{}}}\"\n",
                    dir.join("secrets/db-password").display()
                ),
            );
            write(
                "outside",
                format!(
                    "plugin = \"misbehave\"\ntopic = \"bad\"\nmode = \"ok\"\npassword = \"${{file:{}}}\"\n",
                    outside_pw.display()
                ),
            );
        },
    );
    assert_eq!(
        read_topic(&c, "good", 3, Duration::from_secs(30)),
        ["one", "two", "three"]
    );
    let start = Instant::now();
    let status = loop {
        let status = c.cli(&["connectors", "status"], None);
        // The connector's row and its task's, together.
        let row = |name: &str| {
            status
                .lines()
                .filter(|l| l.starts_with(&format!("{name}\t")))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let done = row("bad-internal").contains("FAILED")
            && row("bad-internal").contains("internal topics")
            && row("bad-forge").contains("FAILED")
            && row("bad-forge").contains("connectd.source")
            && row("leak").contains("FAILED")
            && row("leak").contains("[hidden]")
            && row("outside").contains("FAILED")
            && row("outside").contains("`password`")
            && row("outside").contains("config_providers_file_allowed_paths");
        if done {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "missing statuses:\n{status}\nlog:\n{}",
            c.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.contains("good\t0\tRUNNING"), "{status}");
    let status_topic = read_topic(&c, "connectd-status", 1, Duration::from_secs(5)).join("\n");
    let offsets_topic: Vec<String> = read_to_end(&c.bootstrap(), "connectd-offsets", 1)
        .into_iter()
        .map(|r| format!("{} {}", r.key, r.text))
        .collect();
    let offsets_topic = offsets_topic.join("\n");
    let log = c.log_text();
    for (what, text) in [
        ("the log", &log),
        ("connectors status", &status),
        ("the status topic", &status_topic),
    ] {
        assert!(!text.contains(secret), "the secret is in {what}:\n{text}");
        assert!(
            !text.contains("not-allowed-value-5531"),
            "a refused file's contents are in {what}"
        );
    }
    assert!(
        status_topic.contains("[hidden]"),
        "the leak's status is in the topic, redacted:\n{status_topic}"
    );
    assert!(
        !offsets_topic.contains("forged") && !offsets_topic.contains("someone-else"),
        "nothing forged reached connectd-offsets:\n{offsets_topic}"
    );
}
