//! Kafka Connect's REST API, driven by kafka-connect-api (pip) and requests from
//! tests/python/rest.py: create, pause, resume, restart, offsets, validation and the error
//! cases; then kill -9 and a restart, after which REST-created connectors and their target
//! states are still there.

use crate::support::{Connectd, repo_root, run_tool};

fn rest(c: &Connectd, phase: &str) {
    let script = repo_root().join("tests/python/rest.py");
    let (ok, out, err) = run_tool(
        "python3",
        &[script.to_str().unwrap(), phase, &c.api(), &c.bootstrap()],
        None,
    );
    assert!(
        ok && out.contains(&format!("{phase}: ok")),
        "tests/python/rest.py {phase} failed\nstdout:\n{out}\nstderr:\n{err}\nlog:\n{}",
        c.log_text()
    );
}

#[test]
fn kafka_connect_rest_api() {
    let mut c = Connectd::with_connectors(
        &[("connectd-datagen-source", "datagen-source")],
        &[(
            "lines.toml",
            "plugin = \"datagen-source\"\ntopic = \"file-made\"\nrate = 5\n",
        )],
    );
    rest(&c, "first");
    c.kill9();
    c.restart();
    rest(&c, "after-restart");
}

#[test]
fn prometheus_metrics_count_what_moved() {
    let records = 5000;
    let source = format!(
        "plugin = \"datagen-source\"\ntopic = \"metered\"\nrate = 0\niterations = {records}\n\"poll.batch.size\" = 700\n"
    );
    let c = Connectd::with_connectors(
        &[
            ("connectd-datagen-source", "datagen-source"),
            ("connectd-file-sink", "file-sink"),
        ],
        &[
            ("gen.toml", &source),
            (
                "sink.toml",
                "plugin = \"file-sink\"\ntopics = \"metered\"\nfile = \"../output/metered.txt\"\n",
            ),
        ],
    );
    let script = repo_root().join("tests/python/metrics.py");
    let (ok, out, err) = run_tool(
        "python3",
        &[
            script.to_str().unwrap(),
            &c.api(),
            &c.bootstrap(),
            &records.to_string(),
        ],
        None,
    );
    assert!(
        ok && out.contains("metrics: ok"),
        "tests/python/metrics.py failed\nstdout:\n{out}\nstderr:\n{err}\nlog:\n{}",
        c.log_text()
    );
}

/// The status page in headless Chromium (selenium); keeps screenshots in target/.
#[test]
fn status_page_in_a_real_browser() {
    let c = Connectd::with_connectors(
        &[
            ("connectd-datagen-source", "datagen-source"),
            ("connectd-file-sink", "file-sink"),
        ],
        &[
            (
                "gen.toml",
                "plugin = \"datagen-source\"\ntopic = \"ui-gen\"\nrate = 500\n",
            ),
            (
                "sink.toml",
                "plugin = \"file-sink\"\ntopics = \"ui-gen\"\nfile = \"../output/ui.txt\"\n",
            ),
        ],
    );
    let shot = repo_root().join("target/ui-status-page.png");
    let script = repo_root().join("tests/python/ui.py");
    let (ok, out, err) = run_tool(
        "python3",
        &[script.to_str().unwrap(), &c.api(), shot.to_str().unwrap()],
        None,
    );
    assert!(
        ok && out.contains("ui: ok"),
        "tests/python/ui.py failed\nstdout:\n{out}\nstderr:\n{err}\nlog:\n{}",
        c.log_text()
    );
    assert!(shot.exists(), "screenshot kept at {}", shot.display());
}
