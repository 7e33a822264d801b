//! Misbehaving plugins fail alone: a loop hits the CPU deadline, unbounded allocation hits the
//! memory limit, a panic traps, a fatal error is reported as such, sockets and files outside
//! the grant are refused. Each time, another task on the same host keeps working and the
//! host's memory stays bounded.

use std::time::{Duration, Instant};

use connectd_host::{Grants, Host, Limits, TaskError};

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn each_misbehaviour_fails_only_its_own_task() {
    let wasm = crate::support::build_connector("connectd-test-misbehave");
    let cache = tempfile::tempdir().unwrap();
    let host = Host::new(cache.path(), crate::io()).unwrap();
    let plugin = host.load(&wasm).unwrap();
    let limits = Limits {
        memory_bytes: 64 << 20,
        call_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let open = |mode: &str, extra: &[(&str, &str)]| {
        let mut config = vec![("mode".to_string(), mode.to_string())];
        config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        plugin
            .open_source(config, vec![], &Grants::default(), &limits)
            .unwrap()
    };
    let mut healthy = open("ok", &[]);
    assert_eq!(healthy.poll(1).unwrap().len(), 1);

    let start = Instant::now();
    let err = open("loop", &[]).poll(1).unwrap_err();
    assert!(
        matches!(&err, TaskError::Trap(m) if m.contains("CPU deadline")),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the deadline stopped the loop: {:?}",
        start.elapsed()
    );
    assert_eq!(healthy.poll(1).unwrap().len(), 1);

    let before = rss_kb();
    for _ in 0..5 {
        let err = open("alloc", &[]).poll(1).unwrap_err();
        assert!(matches!(err, TaskError::Trap(_)), "{err}");
    }
    let grown_mb = rss_kb().saturating_sub(before) / 1024;
    assert!(
        grown_mb < 200,
        "five 64 MiB-limited runaway allocations grew the host by {grown_mb} MB"
    );
    assert_eq!(healthy.poll(1).unwrap().len(), 1);

    // The panic's own message reaches the error, not only the trap.
    let err = open("panic", &[]).poll(1).unwrap_err();
    assert!(
        matches!(&err, TaskError::Trap(m) if m.contains("misbehave: panicking on purpose") && m.contains("src/lib.rs")),
        "{err}"
    );
    let err = open("fatal", &[]).poll(1).unwrap_err();
    assert_eq!(
        err,
        TaskError::Fatal("misbehave: giving up on purpose".into())
    );

    // A listener the guest could reach if it had network access: it has none.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let err = open("socket", &[("port", &port)]).poll(1).unwrap_err();
    assert!(
        matches!(&err, TaskError::Fatal(m) if m.contains("socket refused")),
        "{err}"
    );

    // A file outside any grant.
    let secret = tempfile::tempdir().unwrap();
    let path = secret.path().join("secret");
    std::fs::write(&path, "secret").unwrap();
    let err = open("read", &[("path", path.to_str().unwrap())])
        .poll(1)
        .unwrap_err();
    assert!(
        matches!(&err, TaskError::Fatal(m) if m.contains("read refused")),
        "{err}"
    );

    assert_eq!(
        healthy.poll(1).unwrap().len(),
        1,
        "the healthy task kept working throughout"
    );
}
