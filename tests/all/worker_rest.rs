//! Kafka Connect's REST API, driven by kafka-connect-api (pip) and requests from
//! tests/python/rest.py: create, pause, resume, restart, offsets, validation and the error
//! cases; then kill -9 and a restart, after which REST-created connectors and their target
//! states are still there.

use crate::connectors::install;
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
    let mut c = Connectd::start_with(
        "plugin_dir = \"plugins\"\nconnectors_dir = \"connectors.d\"",
        "",
        |dir| {
            install(dir, &[("connectd-datagen-source", "datagen-source")]);
            std::fs::write(
                dir.join("connectors.d/lines.toml"),
                "plugin = \"datagen-source\"\ntopic = \"file-made\"\nrate = 5\n",
            )
            .unwrap();
        },
    );
    rest(&c, "first");
    c.kill9();
    c.restart();
    rest(&c, "after-restart");
}
