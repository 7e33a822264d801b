//! Debian's kcat (librdkafka 2.0.2, an older generation than the rdkafka crate's 2.12) against
//! connectd: metadata, produce with keys and every codec, consume from the beginning, and a
//! balanced consumer group.

use crate::support::{Connectd, run_tool};

fn kcat(c: &Connectd, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kcat")
        .arg("-b")
        .arg(c.bootstrap())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is not installed; `apt-get install kcat` (bash .ci/run does it)");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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
