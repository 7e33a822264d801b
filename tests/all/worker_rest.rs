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

/// The status page in headless Chromium (selenium), behind a token, with connectors named as
/// JavaScript's object keys are; keeps screenshots in target/.
#[test]
fn status_page_in_a_real_browser() {
    let token = "ui-t0ken";
    let c = Connectd::start_with_api(
        crate::support::WORKER,
        &format!("token = \"{token}\""),
        "",
        |dir| {
            crate::connectors::install(
                dir,
                &[
                    ("connectd-datagen-source", "datagen-source"),
                    ("connectd-file-sink", "file-sink"),
                ],
            );
            for (file, contents) in [
                (
                    "gen.toml",
                    "plugin = \"datagen-source\"\ntopic = \"ui-gen\"\nrate = 500\n",
                ),
                (
                    "sink.toml",
                    "plugin = \"file-sink\"\ntopics = \"ui-gen\"\nfile = \"../output/ui.txt\"\n",
                ),
                (
                    "constructor.toml",
                    "plugin = \"datagen-source\"\ntopic = \"js1\"\nrate = 5\n",
                ),
                (
                    "__proto__.toml",
                    "plugin = \"datagen-source\"\ntopic = \"js2\"\nrate = 5\n",
                ),
            ] {
                std::fs::write(dir.join("connectors.d").join(file), contents).unwrap();
            }
        },
    );
    let shot = repo_root().join("target/ui-status-page.png");
    let script = repo_root().join("tests/python/ui.py");
    let (ok, out, err) = run_tool(
        "python3",
        &[
            script.to_str().unwrap(),
            &c.api(),
            shot.to_str().unwrap(),
            token,
        ],
        None,
    );
    assert!(
        ok && out.contains("ui: ok"),
        "tests/python/ui.py failed\nstdout:\n{out}\nstderr:\n{err}\nlog:\n{}",
        c.log_text()
    );
    assert!(shot.exists(), "screenshot kept at {}", shot.display());
}

/// `connectd connectors ...` and `connectd plugins ...` drive the same API.
#[test]
fn connectors_cli_through_the_api() {
    let c = Connectd::with_connectors(&[("connectd-datagen-source", "datagen-source")], &[]);
    let file = c.dir.path().join("cli-gen.toml");
    std::fs::write(
        &file,
        "plugin = \"datagen-source\"\ntopic = \"cli-gen\"\nrate = 100\n\"tasks.max\" = 2\n",
    )
    .unwrap();
    let created = c.cli(&["connectors", "create", file.to_str().unwrap()], None);
    assert!(created.contains("created cli-gen (source)"), "{created}");
    assert_eq!(c.cli(&["connectors", "list"], None).trim(), "cli-gen");
    let running = |c: &Connectd| {
        let status = c.cli(&["connectors", "status", "cli-gen", "-o", "json"], None);
        let v: serde_json::Value = serde_json::from_str(&status).unwrap();
        v[0]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running(&c) != ["RUNNING", "RUNNING"] {
        assert!(std::time::Instant::now() < deadline, "tasks never ran");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let table = c.cli(&["connectors", "status"], None);
    assert!(
        table.starts_with("CONNECTOR\tTASK\tSTATE\tWORKER\tTRACE")
            && table.contains("cli-gen\t1\tRUNNING\t127.0.0.1:"),
        "{table}"
    );
    let config = c.cli(
        &["connectors", "config", "cli-gen", "--set", "rate=7"],
        None,
    );
    assert!(config.lines().any(|l| l == "rate\t7"), "{config}");
    c.cli(&["connectors", "pause", "cli-gen"], None);
    assert!(
        c.cli(&["connectors", "status"], None)
            .contains("cli-gen\t-\tPAUSED")
    );
    c.cli(&["connectors", "resume", "cli-gen"], None);
    c.cli(&["connectors", "restart", "cli-gen", "--task", "1"], None);
    let offsets = c.cli(&["connectors", "offsets", "cli-gen"], None);
    assert!(offsets.starts_with("PARTITION\tOFFSET"), "{offsets}");
    let plugins = c.cli(&["plugins", "list"], None);
    assert!(
        plugins.contains("datagen-source\tsource\t0.1.0"),
        "{plugins}"
    );
    let wasm = crate::connectors::build_connector("connectd-datagen-source");
    let valid = c.cli(&["plugins", "validate", wasm.to_str().unwrap()], None);
    assert!(
        valid.contains("a valid source plugin: datagen-source")
            && valid.contains("topic (required)"),
        "{valid}"
    );
    // Errors name what is wrong and what to do.
    let (ok, _, err) = run_tool(
        env!("CARGO_BIN_EXE_connectd"),
        &["connectors", "delete", "nope", "--api", &c.api()],
        None,
    );
    assert!(!ok && err.contains("404") && err.contains("nope"), "{err}");
    let not_wasm = c.dir.path().join("not.wasm");
    std::fs::write(&not_wasm, b"nope").unwrap();
    let (ok, _, err) = run_tool(
        env!("CARGO_BIN_EXE_connectd"),
        &["plugins", "validate", not_wasm.to_str().unwrap()],
        None,
    );
    assert!(!ok && err.contains("not.wasm"), "{err}");
    let (ok, _, err) = run_tool(
        env!("CARGO_BIN_EXE_connectd"),
        &["connectors", "list", "--api", "http://127.0.0.1:9"],
        None,
    );
    assert!(
        !ok && err.contains("cannot reach the worker's REST API"),
        "{err}"
    );
    c.cli(&["connectors", "delete", "cli-gen"], None);
    assert_eq!(c.cli(&["connectors", "list"], None).trim(), "");
}

/// The API's inputs fuzzed from its own OpenAPI description (`GET /openapi.json`) by
/// schemathesis (pip), a property-based API tester no one here wrote: thousands of generated
/// paths, queries and bodies, with and without the token. No answer may be a server error,
/// and every answer must match the document (status code, content type, schema); afterwards
/// the worker still answers for its connector.
#[test]
fn the_api_holds_up_to_schemathesis() {
    let token = "fuzz-token-1";
    let c = Connectd::start_with_api(
        crate::support::WORKER,
        &format!("token = \"{token}\""),
        "",
        |dir| {
            crate::connectors::install(dir, &[("connectd-datagen-source", "datagen-source")]);
            std::fs::write(
                dir.join("connectors.d/gen.toml"),
                "plugin = \"datagen-source\"\ntopic = \"fuzzed\"\nrate = 5\n",
            )
            .unwrap();
        },
    );
    let schema = format!("{}/openapi.json", c.api());
    // Path parameters that name what exists, so generated requests get past the 404s too.
    let settings = c.dir.path().join("schemathesis.toml");
    std::fs::write(
        &settings,
        "[parameters]\n\"path.name\" = \"gen\"\n\"path.task\" = \"0\"\n\"path.plugin\" = \"datagen-source\"\n\"path.logger\" = \"connectd\"\n",
    )
    .unwrap();
    let auth = format!("Authorization: Bearer {token}");
    let (ok, out, err) = run_tool(
        "st",
        &[
            "--config-file",
            settings.to_str().unwrap(),
            "run",
            &schema,
            "-H",
            &auth,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "100",
            "--seed",
            "29",
            "--request-timeout",
            "10",
        ],
        None,
    );
    assert!(
        ok,
        "schemathesis found problems:\n{out}\n{err}\nlog:\n{}",
        c.log_text()
    );
    assert!(out.contains(" generated, "), "{out}");
    eprintln!(
        "{}",
        out.lines().rev().take(12).collect::<Vec<_>>().join("\n")
    );
    let status_url = format!("{}/connectors/gen/status", c.api());
    let (_, status, _) = run_tool("curl", &["-s", "-H", &auth, &status_url], None);
    assert!(
        status.contains("\"name\":\"gen\""),
        "the worker stopped answering: {status}"
    );
}
