//! The Python clients: confluent-kafka (librdkafka 2.16) and kafka-python (a pure-Python
//! implementation of the protocol) run tests/python/clients.py against connectd.

use crate::support::{Connectd, repo_root, run_tool};

#[test]
fn confluent_kafka_and_kafka_python() {
    let c = Connectd::start("");
    let script = repo_root().join("tests/python/clients.py");
    let (ok, out, err) = run_tool("python3", &[script.to_str().unwrap(), &c.bootstrap()], None);
    assert!(
        ok,
        "tests/python/clients.py failed\nstdout:\n{out}\nstderr:\n{err}\nbroker log:\n{}",
        c.log_text()
    );
    for check in ["confluent-kafka: ok", "kafka-python: ok"] {
        assert!(out.contains(check), "missing {check:?} in:\n{out}");
    }
}
