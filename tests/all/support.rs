//! Shared helpers for the end-to-end tests: run the real `connectd` binary on a random free
//! port with its own data directory, and build real librdkafka clients against it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// `[worker]` lines that run connectors from `plugins/` and `connectors.d/`.
pub const WORKER: &str = "plugin_dir = \"plugins\"\nconnectors_dir = \"connectors.d\"";

/// A running `connectd --config worker.toml`.
pub struct Connectd {
    pub child: Option<Child>,
    pub port: u16,
    /// The REST API's port (`[api] listen`).
    pub api_port: u16,
    pub dir: tempfile::TempDir,
    pub extra: String,
    /// Extra lines for the `[worker]` section.
    pub worker_extra: String,
    /// Extra lines for the `[api]` section.
    pub api_extra: String,
    /// Environment variables the process gets besides this one's.
    pub env: Vec<(String, String)>,
    log: PathBuf,
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Connectd {
    /// Starts connectd with `extra` appended to the `[broker]` section.
    pub fn start(extra: &str) -> Self {
        Self::start_with("", extra, |_| {})
    }

    /// Starts connectd with `worker_extra` in `[worker]` and `extra` in `[broker]`, after
    /// `prepare` has laid out files in its directory.
    pub fn start_with(worker_extra: &str, extra: &str, prepare: impl FnOnce(&Path)) -> Self {
        Self::start_with_api(worker_extra, "", extra, prepare)
    }

    /// [`Connectd::start_with`], with `api_extra` in `[api]`.
    pub fn start_with_api(
        worker_extra: &str,
        api_extra: &str,
        extra: &str,
        prepare: impl FnOnce(&Path),
    ) -> Self {
        Self::start_with_env(worker_extra, api_extra, extra, &[], prepare)
    }

    /// [`Connectd::start_with_api`], the process given the variables in `env` too.
    pub fn start_with_env(
        worker_extra: &str,
        api_extra: &str,
        extra: &str,
        env: &[(&str, &str)],
        prepare: impl FnOnce(&Path),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let mut c = Connectd {
            child: None,
            port: free_port(),
            api_port: free_port(),
            log: dir.path().join("connectd.log"),
            dir,
            extra: extra.to_string(),
            worker_extra: worker_extra.to_string(),
            api_extra: api_extra.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        c.spawn();
        c
    }

    /// Starts connectd running connectors: each `(package, name)` plugin built and installed,
    /// each `(file, contents)` written to connectors.d.
    pub fn with_connectors(plugins: &[(&str, &str)], connectors: &[(&str, &str)]) -> Self {
        Self::start_with(WORKER, "", |dir| {
            crate::connectors::install(dir, plugins);
            for (file, contents) in connectors {
                std::fs::write(dir.join("connectors.d").join(file), contents).unwrap();
            }
        })
    }

    /// The REST API's base URL.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        let config = self.dir.path().join("worker.toml");
        // `{port}` in the [broker] lines is this broker's port: with `listeners`, the
        // first listener should use it (there is no `listen` then).
        let extra = self.extra.replace("{port}", &self.port.to_string());
        let listen = if extra.contains("listeners = ") {
            String::new()
        } else {
            format!("listen = \"127.0.0.1:{}\"\n", self.port)
        };
        std::fs::write(
            &config,
            format!(
                "[worker]\ndata_dir = \"data\"\n{}\n\n[api]\nlisten = \"127.0.0.1:{}\"\n{}\n\n[broker]\n{listen}group_initial_rebalance_delay_ms = 200\n{extra}\n",
                self.worker_extra, self.api_port, self.api_extra
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_connectd"))
            .arg("--config")
            .arg(&config)
            .env("CONNECTD_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning connectd");
        self.child = Some(child);
        // With `mode = "kafka"` there is no embedded broker to wait for.
        if !self.extra.contains("mode = \"kafka\"") {
            wait_for_port(self.port, Duration::from_secs(20));
        }
        // The REST API comes up once the worker has started its connectors.
        if self.worker_extra.contains("plugin_dir") {
            wait_for_port(self.api_port, Duration::from_secs(60));
        }
    }

    /// kill -9, no clean shutdown.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_sigterm(c.id());
            let status = c.wait().unwrap();
            assert!(
                status.success(),
                "connectd exited with {status} after SIGTERM; log:\n{}",
                self.log_text()
            );
        }
    }

    pub fn restart(&mut self) {
        self.spawn();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Reads partition 0 of `topic` as [`read_topic`] does.
    pub fn read_topic(&self, topic: &str, expect: usize, timeout: Duration) -> Vec<Read> {
        read_topic(&self.bootstrap(), topic, expect, timeout)
    }

    /// Waits until `f` holds, or panics with `what` and the end of the worker's log.
    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl FnMut() -> bool) {
        wait_or(what, timeout, f, || {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("; the worker's log ends:\n{}", tail.join("\n"))
        });
    }

    /// A librdkafka client config for this broker.
    pub fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        c
    }

    /// Runs a `connectd` CLI command against this broker (the `connectors` and `plugins`
    /// commands: against its REST API); returns stdout, panics on failure.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        if matches!(args.first(), Some(&"connectors" | &"plugins")) {
            let api = self.api();
            let mut with_api = args.to_vec();
            with_api.extend(["--api", &api]);
            let (ok, out, err) = run_tool(env!("CARGO_BIN_EXE_connectd"), &with_api, None);
            assert!(ok, "connectd {with_api:?} failed:\n{err}");
            return out;
        }
        cli(&self.bootstrap(), args, stdin)
    }
}

impl Drop for Connectd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn unsafe_sigterm(pid: u32) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_for_port(port: u16, timeout: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "connectd did not listen on {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the connectd CLI; returns stdout.
pub fn cli(bootstrap: &str, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, out, err) = cli_status(bootstrap, args, stdin);
    assert!(ok, "connectd {args:?} failed:\n{err}");
    out
}

/// Runs the connectd CLI; returns (success, stdout, stderr).
pub fn cli_status(bootstrap: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connectd"));
    cmd.args(args)
        .arg("--bootstrap-server")
        .arg(bootstrap)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs an external program, returning (success, stdout, stderr). Panics with a clear message
/// when it is not installed: a missing tool is a failed test, never a skipped one.
pub fn run_tool(program: &str, args: &[&str], cwd: Option<&Path>) -> (bool, String, String) {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("running {program}: {e}. Install it (bash .ci/run installs test tools).")
    });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Debian's kcat against `bootstrap` with `args` and `stdin`; returns (success, stdout,
/// stderr). It runs with Debian's librdkafka (with OpenSSL and SASL), not the one the rdkafka
/// crate builds, which `cargo test` puts on LD_LIBRARY_PATH.
pub fn kcat(bootstrap: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new("kcat")
        .env_remove("LD_LIBRARY_PATH")
        .arg("-b")
        .arg(bootstrap)
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
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads lines from a child's stdout until `pred` matches one.
pub fn read_until(
    reader: &mut BufReader<std::process::ChildStdout>,
    pred: impl Fn(&str) -> bool,
) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("stream ended before the expected line");
        }
        if pred(&line) {
            return line;
        }
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// One record as read back.
pub struct Read {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    /// The value as text.
    pub text: String,
    /// The value as JSON (`null` where it is not JSON).
    pub value: serde_json::Value,
    pub headers: std::collections::BTreeMap<String, String>,
}

impl Read {
    fn of(m: &rdkafka::message::BorrowedMessage<'_>) -> Read {
        use rdkafka::message::Headers as _;
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), text(h.value)))
                    .collect()
            })
            .unwrap_or_default();
        Read {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: text(m.key()),
            text: text(m.payload()),
            value: serde_json::from_slice(m.payload().unwrap_or_default())
                .unwrap_or(serde_json::Value::Null),
            headers,
        }
    }
}

/// A librdkafka consumer of the broker at `bootstrap` that is given its partitions (no group
/// membership) and commits nothing.
pub fn reader(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Reads every partition of `topics` from the beginning until `expect` records arrived and
/// then none for `quiet` (so that any extra shows), or until `timeout`.
pub fn read_records(
    bootstrap: &str,
    topics: &[(&str, i32)],
    expect: usize,
    quiet: Duration,
    timeout: Duration,
) -> Vec<Read> {
    let consumer = reader(bootstrap);
    let mut tpl = TopicPartitionList::new();
    for (topic, partitions) in topics {
        for p in 0..*partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    let mut last = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < timeout && (out.len() < expect || last.elapsed() < quiet) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(Read::of(&m));
            last = Instant::now();
        }
    }
    out
}

/// Reads every partition of `topics` from the beginning until `expect` records arrived and
/// then 3 s more with none (to see any extra), or until `timeout`.
pub fn read_all(
    bootstrap: &str,
    topics: &[(&str, i32)],
    expect: usize,
    timeout: Duration,
) -> Vec<Read> {
    read_records(bootstrap, topics, expect, Duration::from_secs(3), timeout)
}

/// Reads partition 0 of `topic` from the beginning until `expect` records arrived and the next
/// poll found nothing more, or until `timeout`.
pub fn read_topic(bootstrap: &str, topic: &str, expect: usize, timeout: Duration) -> Vec<Read> {
    read_records(
        bootstrap,
        &[(topic, 1)],
        expect,
        Duration::from_millis(100),
        timeout,
    )
}

/// Everything `topic`'s partitions hold now (up to their ends when called), by (partition,
/// offset); panics if it cannot be read within 60 s.
pub fn read_to_end(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Read> {
    let consumer = reader(bootstrap);
    let mut total = 0;
    for p in 0..partitions {
        total += consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap()
            .1;
    }
    let out = read_records(
        bootstrap,
        &[(topic, partitions)],
        total as usize,
        Duration::ZERO,
        Duration::from_secs(60),
    );
    assert!(
        out.len() >= total as usize,
        "read {} of the {total} records of {topic} in 60 s",
        out.len()
    );
    out
}

/// Waits until `f` holds, or panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, f: impl FnMut() -> bool) {
    wait_or(what, timeout, f, String::new);
}

/// Waits until `f` holds, or panics with `what` and `context()` after `timeout`.
fn wait_or(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > timeout {
            panic!("timed out waiting for {what}{}", context());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// tansu 0.6 (installed by tests/setup), a Kafka-compatible broker no one here wrote, in
/// memory on a free loopback port; killed when dropped.
pub struct Tansu {
    child: Child,
    pub bootstrap: String,
    _log: tempfile::NamedTempFile,
}

impl Tansu {
    pub fn start() -> Self {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("tansu is installed by tests/setup (cargo install tansu --features dynostore)");
        wait_for_port(port, Duration::from_secs(20));
        Tansu {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            _log: log,
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker.toml for a worker using the cluster at `bootstrap` (`mode = "kafka"`), with
/// `worker` lines in `[worker]` and `sections` after `[broker]`, in a new folder with the
/// usual subfolders (not started).
pub fn kafka_worker(bootstrap: &str, worker: &str, sections: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    crate::connectors::install(dir.path(), &[]);
    let config = dir.path().join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "[worker]\ndata_dir = \"data\"\n{WORKER}\n{worker}\n[api]\nlisten = \"127.0.0.1:{}\"\n[broker]\nmode = \"kafka\"\nbootstrap_servers = \"{bootstrap}\"\n{sections}\n",
            free_port()
        ),
    )
    .unwrap();
    (dir, config)
}
