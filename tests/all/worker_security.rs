//! The holes a review found (issue 29), each shown closed against the real binary:
//! secrets asked for through every REST route and config path appear in no answer, log line,
//! status or topic; a DNS-rebinding Host and a cross-origin request are refused; with a token,
//! every route needs it, and without one the worker warns.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Connectd, WORKER, read_to_end, wait_until};

/// An allowed variable's value.
const ENV_SECRET: &str = "env secret 7Q2ZX9";
/// A variable the allow-list leaves out.
const OTHER_SECRET: &str = "other-secret-44KL";
/// The contents of a file below the allowed directory.
const FILE_SECRET: &str = "file-secret-88RT";
/// A line of worker.toml, which a config asks for whole.
const WORKER_TOML_MARKER: &str = "marker-worker-toml-5521";

/// One HTTP/1.1 request, written by hand so any header can be set (a client library sets
/// `Host` itself); returns the status, the headers and the body.
fn http(port: u16, request: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A request with `Host: 127.0.0.1:<port>`, `headers` (each ending in `\r\n`) and a JSON body.
fn call(
    c: &Connectd,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len(),
        port = c.api_port,
    );
    let (status, _, body) = http(c.api_port, &request);
    (status, body)
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [ENV_SECRET, OTHER_SECRET, FILE_SECRET, WORKER_TOML_MARKER] {
        assert!(!text.contains(secret), "{secret:?} is in {what}:\n{text}");
    }
}

/// Every way a config reaches the worker (POST, PUT, PATCH, validate), each asking for an
/// environment variable or a file where the worker reads the value itself, where a plugin
/// checks it, where it names a topic, and where the plugin quotes it in an error: no answer,
/// log line, status record or topic holds a secret's bytes.
#[test]
fn secrets_reach_no_answer_log_status_or_topic() {
    let worker = format!(
        "{WORKER}\n# {WORKER_TOML_MARKER}\nconfig_providers_file_allowed_paths = [\".\"]\nconfig_providers_env_allowlist_pattern = \"CONNECTD_TEST_.*\""
    );
    let c = Connectd::start_with_env(
        &worker,
        "",
        "",
        &[
            ("CONNECTD_TEST_DB_PASSWORD", ENV_SECRET),
            ("CONNECTD_OTHER_SECRET", OTHER_SECRET),
        ],
        |dir| {
            crate::connectors::install(
                dir,
                &[
                    ("connectd-datagen-source", "datagen-source"),
                    ("connectd-test-misbehave", "misbehave"),
                    ("connectd-fields", "fields"),
                ],
            );
            std::fs::create_dir_all(dir.join("secrets")).unwrap();
            std::fs::write(dir.join("secrets/pw"), format!("{FILE_SECRET}\n")).unwrap();
        },
    );
    let dir = c.dir.path().canonicalize().unwrap();
    let env = "${env:CONNECTD_TEST_DB_PASSWORD}";
    let other = "${env:CONNECTD_OTHER_SECRET}";
    let file = format!("${{file:{}}}", dir.join("secrets/pw").display());
    let worker_toml = format!("${{file:{}}}", dir.join("worker.toml").display());
    let gen_config = |extra: Value| {
        let mut config = json!({"connector.class": "datagen-source", "topic": "gen", "rate": 0});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        config
    };
    let mut answers = Vec::new();
    let mut send = |method: &str, path: &str, body: Value| {
        let (status, text) = call(&c, method, path, "", Some(&body));
        answers.push(format!("{method} {path} -> {status} {text}"));
        (status, text)
    };
    // Keys the worker reads itself take no reference at all.
    for (key, reference) in [
        ("tasks.max", env),
        ("errors.tolerance", worker_toml.as_str()),
        ("transforms", file.as_str()),
        ("connector.class", other),
        ("topic", env),
    ] {
        let body = json!({"name": "w", "config": gen_config(json!({ key: reference }))});
        let (status, text) = send("POST", "/connectors", body);
        assert_eq!(status, 400, "{key}: {text}");
        assert!(text.contains(&format!("`{key}`")), "{key}: {text}");
        let (status, _) = send(
            "PUT",
            "/connectors/w/config",
            gen_config(json!({ key: reference })),
        );
        assert_eq!(status, 400);
    }
    // Of the plugin's own keys, a REST-created connector may fill only those the plugin marks
    // secret with a reference: elsewhere (a number, a transform's static field, a topic
    // format) whoever holds the token could read the secret back (found by a review helper).
    for (key, reference) in [("rate", env), ("rate", file.as_str())] {
        let (status, text) = send(
            "PUT",
            "/connectors/typed/config",
            gen_config(json!({ key: reference })),
        );
        assert_eq!(status, 400, "{key}: {text}");
        assert!(text.contains("`rate`") && text.contains("secret"), "{text}");
    }
    let transform = gen_config(json!({
        "transforms": "f", "transforms.f.type": "fields",
        "transforms.f.static.field": "pw", "transforms.f.static.value": env,
    }));
    let (status, text) = send("PUT", "/connectors/copied/config", transform);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("`transforms.f.static.value`"), "{text}");
    // In a secret key, references are resolved only when the connector starts.
    let misbehave = |password: &str| json!({"connector.class": "misbehave", "topic": "bad", "mode": "leak", "password": password});
    let outside = worker_toml.replace("worker.toml", "../../etc/hostname");
    for (name, password) in [("not-allowed", other), ("outside", outside.as_str())] {
        let (status, text) = send(
            "PUT",
            &format!("/connectors/{name}/config"),
            misbehave(password),
        );
        assert_eq!(status, 201, "{name}: {text}");
    }
    assert_eq!(
        send("PUT", "/connectors/leak/config", misbehave(env)).0,
        201
    );
    assert_eq!(
        send(
            "PATCH",
            "/connectors/leak/config",
            json!({"password": file})
        )
        .0,
        200
    );
    let (status, text) = send(
        "PUT",
        "/connector-plugins/datagen-source/config/validate",
        gen_config(json!({"rate": env})),
    );
    assert_eq!(status, 200);
    assert!(
        text.contains("\"error_count\":1") && text.contains("secret"),
        "validate applies the REST rule: {text}"
    );
    // Each fails, naming the key.
    let failed = |name: &str, key: &str| {
        let (_, status) = call(&c, "GET", &format!("/connectors/{name}/status"), "", None);
        let status: Value = serde_json::from_str(&status).unwrap_or_default();
        let traces = status.to_string();
        (traces.contains("FAILED") && traces.contains(key)).then_some(traces)
    };
    wait_until(
        "every connector has failed, naming its key",
        Duration::from_secs(60),
        || {
            [
                ("not-allowed", "config_providers_env_allowlist_pattern"),
                ("outside", "config_providers_file_allowed_paths"),
                ("leak", "[hidden]"),
            ]
            .iter()
            .all(|(name, key)| failed(name, key).is_some())
        },
    );
    for (method, path) in [
        ("GET", "/connectors?expand=status&expand=info"),
        ("GET", "/connectors/leak/config"),
        ("GET", "/connectors/leak/status"),
        ("GET", "/connectors/leak/tasks"),
        ("GET", "/connectors/leak/tasks/0/status"),
        ("GET", "/connectors/leak/offsets"),
        ("GET", "/connectors/leak/topics"),
        ("GET", "/metrics"),
        ("GET", "/admin/loggers"),
        ("GET", "/ui/cluster"),
    ] {
        let (status, text) = call(&c, method, path, "", None);
        answers.push(format!("{method} {path} -> {status} {text}"));
    }
    assert_no_secret("the REST answers", &answers.join("\n"));
    let mut topics = String::new();
    for topic in ["connectd-status", "connectd-configs", "connectd-offsets"] {
        for r in read_to_end(&c.bootstrap(), topic, 1) {
            topics.push_str(&format!("{} {} {}\n", r.topic, r.key, r.text));
        }
    }
    assert!(
        topics.contains("[hidden]"),
        "the leak's status is kept, redacted:\n{topics}"
    );
    assert_no_secret("the internal topics", &topics);
    assert_no_secret("the log", &c.log_text());
    assert!(
        c.log_text().contains("has no token"),
        "a worker without a token warns at start"
    );
}

/// A page on a rebound DNS name, and a page of another origin sending a "simple" request,
/// are refused; the API's own origin and clients that are not browsers are not.
#[test]
fn rebinding_hosts_and_cross_origin_requests_are_refused() {
    let c = Connectd::start_with(WORKER, "", |dir| {
        crate::connectors::install(dir, &[("connectd-datagen-source", "datagen-source")])
    });
    let own = format!("127.0.0.1:{}", c.api_port);
    let raw = |method: &str, path: &str, headers: &str| {
        http(
            c.api_port,
            &format!(
                "{method} {path} HTTP/1.1\r\nConnection: close\r\n{headers}Content-Length: 0\r\n\r\n"
            ),
        )
    };
    for (what, headers) in [
        ("no Host", String::new()),
        (
            "two Hosts",
            format!("Host: {own}\r\nHost: evil.example\r\n"),
        ),
    ] {
        let (status, _, body) = raw("GET", "/connectors", &headers);
        assert_eq!(status, 400, "{what}: {body}");
    }
    let (status, _, body) = raw(
        "GET",
        "/connectors",
        "Host: rebind.attacker.example:8083\r\n",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("allowed_hosts"), "{body}");
    for host in [own.as_str(), "localhost:8083", "[::1]:8083"] {
        let (status, _, body) = raw("GET", "/connectors", &format!("Host: {host}\r\n"));
        assert_eq!(status, 200, "{host}: {body}");
    }
    let created = call(
        &c,
        "POST",
        "/connectors",
        "",
        Some(&json!({"name": "g", "config": {"connector.class": "datagen-source", "topic": "g"}})),
    );
    assert_eq!(created.0, 201, "{}", created.1);
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let (status, _, body) = raw(
        "POST",
        "/connectors/g/restart",
        &format!("Host: {own}\r\nOrigin: http://evil.example\r\n{form}"),
    );
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = raw(
        "PUT",
        "/connectors/g/pause",
        &format!("Host: {own}\r\nSec-Fetch-Site: cross-site\r\n"),
    );
    assert_eq!(status, 403);
    let (status, _, _) = raw(
        "DELETE",
        "/connectors/g",
        &format!("Host: {own}\r\nOrigin: null\r\n"),
    );
    assert_eq!(status, 403);
    let (_, _, body) = raw("GET", "/connectors", &format!("Host: {own}\r\n"));
    assert_eq!(
        body, "[\"g\"]",
        "nothing the refused requests asked for happened"
    );
    let (status, _, body) = raw(
        "POST",
        "/connectors/g/restart",
        &format!("Host: {own}\r\nOrigin: http://{own}\r\n"),
    );
    assert_eq!(status, 204, "the API's own origin: {body}");
}

/// With `[api] token`, every route needs it, reads included; the status page takes it once in
/// its address and keeps it in a cookie.
#[test]
fn a_token_guards_every_route() {
    let token = "t0ken-for-tests";
    let c = Connectd::start_with_api(WORKER, &format!("token = \"{token}\""), "", |dir| {
        crate::connectors::install(dir, &[("connectd-datagen-source", "datagen-source")])
    });
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let body =
        json!({"name": "g", "config": {"connector.class": "datagen-source", "topic": "tok"}});
    let (status, text) = call(&c, "POST", "/connectors", &bearer, Some(&body));
    assert_eq!(status, 201, "{text}");
    let routes = [
        ("GET", "/"),
        ("GET", "/ui"),
        ("GET", "/ui/cluster"),
        ("GET", "/metrics"),
        ("GET", "/connectors"),
        ("POST", "/connectors"),
        ("GET", "/connectors/g"),
        ("DELETE", "/connectors/g"),
        ("GET", "/connectors/g/config"),
        ("PUT", "/connectors/g/config"),
        ("PATCH", "/connectors/g/config"),
        ("GET", "/connectors/g/status"),
        ("GET", "/connectors/g/tasks"),
        ("GET", "/connectors/g/tasks/0/status"),
        ("POST", "/connectors/g/tasks/0/restart"),
        ("POST", "/connectors/g/restart"),
        ("PUT", "/connectors/g/pause"),
        ("PUT", "/connectors/g/resume"),
        ("PUT", "/connectors/g/stop"),
        ("GET", "/connectors/g/offsets"),
        ("PATCH", "/connectors/g/offsets"),
        ("DELETE", "/connectors/g/offsets"),
        ("GET", "/connectors/g/topics"),
        ("PUT", "/connectors/g/topics/reset"),
        ("GET", "/admin/loggers"),
        ("GET", "/admin/loggers/root"),
        ("PUT", "/admin/loggers/root"),
        ("GET", "/connector-plugins"),
        ("GET", "/connector-plugins/datagen-source/config"),
        ("PUT", "/connector-plugins/datagen-source/config/validate"),
        ("GET", "/no/such/path"),
    ];
    for (method, path) in routes {
        for headers in [
            "",
            "Authorization: Bearer t0ken-for-test\r\n",
            "Cookie: connectd_session=nope\r\n",
            "Cookie: connectd_session=t0ken-for-tests\r\n",
        ] {
            let (status, text) = call(&c, method, path, headers, Some(&json!({})));
            assert_eq!(status, 401, "{method} {path} {headers:?}: {text}");
        }
    }
    let (status, text) = call(&c, "GET", "/connectors/g/status", &bearer, None);
    assert_eq!(status, 200, "{text}");
    // The status page: the token once in the address, then a cookie.
    let (status, head, _) = http(
        c.api_port,
        &format!("GET /ui?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(
        head.to_lowercase().contains("httponly") && head.contains("SameSite=Strict"),
        "{head}"
    );
    // The cookie is a session key, not the token: every web server of this host gets it.
    assert!(
        cookie.starts_with("connectd_session=") && !cookie.contains(token),
        "{cookie}"
    );
    let (status, text) = call(
        &c,
        "GET",
        "/connectors",
        &format!("Cookie: {cookie}\r\n"),
        None,
    );
    assert_eq!((status, text.as_str()), (200, "[\"g\"]"));
    let (status, _, page) = http(
        c.api_port,
        &format!(
            "GET /ui HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 200);
    assert!(page.contains("<html") || page.contains("<!doctype") || page.contains("<!DOCTYPE"));
    assert!(!c.log_text().contains("has no token"));
    // The CLI sends the token it is given, for reads too.
    let (ok, _, err) = crate::support::run_tool(
        env!("CARGO_BIN_EXE_connectd"),
        &["connectors", "list", "--api", &c.api()],
        None,
    );
    assert!(!ok && err.contains("401"), "{err}");
    let listed = c.cli(&["connectors", "list", "--token", token], None);
    assert_eq!(listed.trim(), "g");
}

/// Creates of one name at the same moment: one is created, every other answers 409, as Kafka
/// Connect does.
#[test]
fn concurrent_creates_of_one_name_create_it_once() {
    let c = Connectd::start_with(WORKER, "", |dir| {
        crate::connectors::install(dir, &[("connectd-datagen-source", "datagen-source")])
    });
    let body =
        json!({"name": "once", "config": {"connector.class": "datagen-source", "topic": "once"}});
    let codes: Vec<u16> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..8)
            .map(|_| s.spawn(|| call(&c, "POST", "/connectors", "", Some(&body)).0))
            .collect();
        calls.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let created = codes.iter().filter(|&&c| c == 201).count();
    let conflicts = codes.iter().filter(|&&c| c == 409).count();
    assert_eq!((created, conflicts), (1, 7), "{codes:?}");
}

/// A sink's offsets are altered only for a partition that can exist: a partition number past
/// `i32` (which was cut to another partition's) or below 0 is refused, and nothing is
/// committed.
#[test]
fn sink_offsets_take_only_real_partition_numbers() {
    let c = Connectd::start_with(WORKER, "", |dir| {
        crate::connectors::install(dir, &[("connectd-file-sink", "file-sink")]);
        std::fs::write(
            dir.join("connectors.d/sink.toml"),
            "plugin = \"file-sink\"\ntopics = \"in\"\nfile = \"../output/in.txt\"\n",
        )
        .unwrap();
    });
    assert_eq!(call(&c, "PUT", "/connectors/sink/stop", "", None).0, 204);
    for partition in [json!(4294967296i64), json!(-1), json!("0")] {
        let body = json!({"offsets": [{"partition": {"kafka_topic": "in", "kafka_partition": partition}, "offset": {"kafka_offset": 7}}]});
        let (status, text) = call(&c, "PATCH", "/connectors/sink/offsets", "", Some(&body));
        assert_eq!(status, 400, "{partition}: {text}");
    }
    let body = json!({"offsets": [{"partition": {"kafka_topic": "in", "kafka_partition": 0}, "offset": {"kafka_offset": -3}}]});
    assert_eq!(
        call(&c, "PATCH", "/connectors/sink/offsets", "", Some(&body)).0,
        400
    );
    let (_, offsets) = call(&c, "GET", "/connectors/sink/offsets", "", None);
    assert!(
        !offsets.contains("\"kafka_offset\":7"),
        "nothing was committed: {offsets}"
    );
}

/// A sink whose `put` fails with a retryable error, then is paused, then has its tasks
/// rebalanced, then is stopped with the worker (SIGTERM), commits nothing past its last good
/// put: once puts work again, every record arrives, each once.
#[test]
fn a_sink_never_commits_past_a_failed_put() {
    let worker = format!("{WORKER}\ngrant_allowed_paths = [\"output\"]");
    let mut c = Connectd::start_with(&worker, "", |dir| {
        crate::connectors::install(dir, &[("connectd-test-flaky-sink", "flaky-sink")])
    });
    let out = c.dir.path().join("output/flaky.txt");
    let records: Vec<(String, Option<String>)> = (0..100)
        .map(|i| (format!("k{i}"), Some(format!("r{i:04}"))))
        .collect();
    crate::sql_support::produce(&c, "flaky", &records);
    let config = |fail: bool| json!({"connector.class": "flaky-sink", "topics": "flaky", "file": out.display().to_string(), "fail": fail});
    let retries = |c: &Connectd| c.log_text().matches("put failed; retrying").count();
    let committed = |c: &Connectd| call(c, "GET", "/connectors/flaky/offsets", "", None).1;
    let configure = |c: &Connectd, fail: bool| {
        call(
            c,
            "PUT",
            "/connectors/flaky/config",
            "",
            Some(&config(fail)),
        )
        .0
    };
    assert_eq!(configure(&c, true), 201);
    wait_until("the sink retries its put", Duration::from_secs(30), || {
        retries(&c) >= 1
    });
    // Paused while failing: its task stops, flushing and committing only what was put.
    assert_eq!(call(&c, "PUT", "/connectors/flaky/pause", "", None).0, 202);
    let after_pause = committed(&c);
    assert!(
        !after_pause.contains("\"kafka_offset\":100"),
        "committed past a failed put: {after_pause}"
    );
    // Resumed, failing again; then its tasks are rebalanced (tasks.max changed: the task
    // stops and the partition is assigned afresh), failing again; then the worker stops.
    assert_eq!(call(&c, "PUT", "/connectors/flaky/resume", "", None).0, 202);
    wait_until("the resumed sink retries", Duration::from_secs(30), || {
        retries(&c) >= 2
    });
    let mut two_tasks = config(true);
    two_tasks["tasks.max"] = json!(2);
    let rebalanced = call(&c, "PUT", "/connectors/flaky/config", "", Some(&two_tasks)).0;
    assert_eq!(rebalanced, 200);
    wait_until(
        "the rebalanced sink retries",
        Duration::from_secs(30),
        || retries(&c) >= 3,
    );
    let after_rebalance = committed(&c);
    assert!(
        !after_rebalance.contains("\"kafka_offset\":100"),
        "committed past a failed put: {after_rebalance}"
    );
    c.stop();
    c.restart();
    let after_stop = committed(&c);
    assert!(
        !after_stop.contains("\"kafka_offset\":100"),
        "committed past a failed put: {after_stop}"
    );
    // Puts work again: every record arrives once.
    assert_eq!(configure(&c, false), 200);
    let expected: Vec<String> = records.iter().map(|(_, v)| v.clone().unwrap()).collect();
    wait_until(
        "every record reaches the file",
        Duration::from_secs(60),
        || std::fs::read_to_string(&out).is_ok_and(|t| t.lines().count() >= expected.len()),
    );
    let mut lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, expected);
}

/// The API's port holds at most `max_connections` connections, and closes one that sends
/// half a header, or nothing, for `header_timeout_ms`: idle sockets cannot pile up.
#[test]
fn idle_and_half_sent_connections_are_capped_and_closed() {
    use std::net::TcpStream;
    use std::time::Instant;
    let c = Connectd::start_with_api(
        WORKER,
        "max_connections = 8\nheader_timeout_ms = 1500\nrequest_timeout_ms = 2500",
        "",
        |dir| crate::connectors::install(dir, &[("connectd-datagen-source", "datagen-source")]),
    );
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", c.api_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    };
    // Closed by the server: a read ends (EOF or reset) instead of waiting.
    let closed_within = |mut s: TcpStream, limit: Duration| {
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        started.elapsed() < limit
    };
    // The connections made while waiting for the port are gone before the count starts.
    assert_eq!(call(&c, "GET", "/connectors", "", None).0, 200);
    std::thread::sleep(Duration::from_millis(500));
    let mut half = connect();
    half.write_all(b"GET /connectors HTTP/1.1\r\nHo").unwrap();
    // A body that never comes whole.
    let mut slow = connect();
    slow.write_all(b"POST /connectors HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        .unwrap();
    let idle: Vec<TcpStream> = (0..6).map(|_| connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        closed_within(connect(), Duration::from_secs(1)),
        "a ninth connection is closed at once; log:\n{}",
        c.log_text()
    );
    assert!(
        closed_within(half, Duration::from_secs(5)),
        "a half-sent header is closed"
    );
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a body sent slowly: {answer}"
    );
    for s in idle {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "an idle connection is closed"
        );
    }
    let (status, body) = call(&c, "GET", "/connectors", "", None);
    assert_eq!(
        (status, body.as_str()),
        (200, "[]"),
        "the API answers again"
    );
    assert!(c.log_text().contains("too many open connections"));
}

/// A deleted connector leaves no status behind: its own and its tasks' entries end in
/// tombstones in `connectd-status`, the API no longer knows it, and `/metrics` no longer shows
/// its series.
#[test]
fn a_deleted_connector_leaves_no_status() {
    let c = Connectd::start_with(WORKER, "", |dir| {
        crate::connectors::install(dir, &[("connectd-datagen-source", "datagen-source")])
    });
    let body = json!({"name": "gone", "config": {"connector.class": "datagen-source", "topic": "gone", "tasks.max": 2, "rate": 5}});
    assert_eq!(call(&c, "POST", "/connectors", "", Some(&body)).0, 201);
    wait_until("gone runs", Duration::from_secs(30), || {
        call(&c, "GET", "/connectors/gone/status", "", None)
            .1
            .matches("RUNNING")
            .count()
            == 3
    });
    c.wait_for("gone's metric series", Duration::from_secs(30), || {
        call(&c, "GET", "/metrics", "", None)
            .1
            .contains("connector=\"gone\"")
    });
    assert_eq!(call(&c, "DELETE", "/connectors/gone", "", None).0, 204);
    assert_eq!(call(&c, "GET", "/connectors/gone/status", "", None).0, 404);
    let (_, metrics) = call(&c, "GET", "/metrics", "", None);
    assert!(
        metrics.contains("connectd_broker_") && !metrics.contains("connector=\"gone\""),
        "a deleted connector's series: {metrics}"
    );
    let mut last = std::collections::BTreeMap::new();
    for r in read_to_end(&c.bootstrap(), "connectd-status", 1) {
        last.insert(r.key.clone(), r.text.clone());
    }
    for key in ["gone", "gone/0", "gone/1"] {
        assert_eq!(
            last.get(key).map(String::as_str),
            Some(""),
            "{key} ends in a tombstone: {last:?}"
        );
    }
}

/// Item 5: with `[broker] internal_allowed_clients = []`, a Kafka client that is not the
/// worker can neither write `connectd-configs` (the REST token's bypass) nor read the status
/// traces, delete an internal topic, join the Connect group or commit a sink's offsets; it
/// does not see them listed. The worker itself, whose group membership joins over the wire,
/// keeps running its connectors, and ordinary topics stay open. (Before the option, the
/// produce below became a connector.)
#[test]
fn internal_topics_and_groups_are_closed_to_other_clients() {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::types::RDKafkaErrorCode;
    use rdkafka::{Offset, TopicPartitionList};

    let c = Connectd::start_with(
        WORKER,
        "internal_allowed_clients = []\n\n[cluster]\ngroup_id = \"connectd-closed\"\nsession_timeout_ms = 6000\nheartbeat_interval_ms = 500",
        |dir| crate::connectors::install(dir, &[("connectd-datagen-source", "datagen-source")]),
    );
    let body = json!({"name": "gen", "config": {"connector.class": "datagen-source", "topic": "open-events", "rate": 50}});
    assert_eq!(call(&c, "POST", "/connectors", "", Some(&body)).0, 201);
    c.wait_for(
        "gen runs through the worker's own group membership",
        Duration::from_secs(60),
        || {
            call(&c, "GET", "/connectors/gen/status", "", None)
                .1
                .matches("RUNNING")
                .count()
                == 2
        },
    );
    let timeout = Duration::from_secs(10);

    // Writing a connector config straight into the config topic is refused, and the next
    // write through the API picks up nothing.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let producer: FutureProducer = c
        .client()
        .set("message.timeout.ms", "5000")
        .create()
        .unwrap();
    let value = json!({"connector.class": "datagen-source", "topic": "smuggled"}).to_string();
    let sent = rt.block_on(
        producer.send(
            FutureRecord::to("connectd-configs")
                .key("connector-smuggled")
                .payload(&value),
            timeout,
        ),
    );
    assert!(
        matches!(
            sent,
            Err((
                KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed),
                _
            ))
        ),
        "producing to connectd-configs: {sent:?}"
    );
    let config = json!({"connector.class": "datagen-source", "topic": "open-events", "rate": 50});
    assert_eq!(
        call(&c, "PUT", "/connectors/gen/config", "", Some(&config)).0,
        200
    );
    assert_eq!(call(&c, "GET", "/connectors", "", None).1, r#"["gen"]"#);

    // The status topic cannot be read; the internal topics are not listed.
    let consumer: BaseConsumer = c
        .client()
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("connectd-status", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            panic!(
                "read a status record at offset {}",
                rdkafka::Message::offset(&m)
            );
        }
    }
    let status = consumer
        .fetch_metadata(Some("connectd-status"), timeout)
        .unwrap();
    assert_eq!(
        status.topics()[0].error().map(RDKafkaErrorCode::from),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    let listed: Vec<String> = consumer
        .fetch_metadata(None, timeout)
        .unwrap()
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    assert!(listed.contains(&"open-events".to_string()), "{listed:?}");
    assert!(
        !listed.iter().any(|t| t.starts_with("connectd-")),
        "{listed:?}"
    );
    let groups = consumer.fetch_group_list(None, timeout).unwrap();
    let groups: Vec<&str> = groups.groups().iter().map(|g| g.name()).collect();
    assert!(!groups.contains(&"connectd-closed"), "{groups:?}");

    // Deleting an internal topic is refused.
    let admin: AdminClient<DefaultClientContext> = c.client().create().unwrap();
    let deleted = rt
        .block_on(admin.delete_topics(&["connectd-offsets"], &AdminOptions::new()))
        .unwrap();
    assert!(
        matches!(
            deleted[0],
            Err((_, RDKafkaErrorCode::TopicAuthorizationFailed))
        ),
        "{deleted:?}"
    );

    // Joining the Connect group, or committing as a sink's group, is refused.
    for group in ["connectd-closed", "connect-anything"] {
        let member: BaseConsumer = c
            .client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("open-events", 0, Offset::Offset(0))
            .unwrap();
        let committed = member.commit(&tpl, rdkafka::consumer::CommitMode::Sync);
        assert!(
            matches!(
                committed,
                Err(KafkaError::ConsumerCommit(
                    RDKafkaErrorCode::GroupAuthorizationFailed
                ))
            ),
            "commit as {group}: {committed:?}"
        );
    }

    // Ordinary topics stay open, and the worker still runs.
    assert!(!c.read_topic("open-events", 1, timeout).is_empty());
    assert_eq!(
        call(&c, "GET", "/connectors/gen/status", "", None)
            .1
            .matches("RUNNING")
            .count(),
        2
    );
}

/// Item 10: a task stuck in a database call holds up no REST call. Another session holds an
/// exclusive lock on the table, so every query of the sql-source task waits. With
/// `task_wait_timeout_ms`, the stuck call ends as a retryable error naming the setting; and while the task is stuck again, pausing, reading and deleting the connector
/// answer at once: stopping a task no longer waits for its thread under the supervisor's
/// lock. (Before, the pause waited for the lock to be released.)
#[test]
fn a_task_stuck_in_the_database_holds_up_no_rest_call() {
    use crate::sql_support::{PG_URL, block, exec, pg, suffix};
    use std::time::Instant;

    let table = format!("stuck{}", suffix());
    let db = pg();
    exec!(
        &db,
        format!("CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, v TEXT)"),
        format!("INSERT INTO {table} (v) VALUES ('a')")
    );
    let mut lock = block(db.begin()).unwrap();
    block(sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")).execute(&mut *lock))
        .unwrap();
    let c = Connectd::start_with(
        &format!("{WORKER}\ntask_wait_timeout_ms = 6000"),
        "",
        |dir| crate::connectors::install(dir, crate::sql_support::PLUGINS),
    );
    let body = json!({"name": "stuck", "config": {
        "connector.class": "sql-source", "connection.url": PG_URL, "mode": "incrementing",
        "incrementing.column.name": "id", "table.include.list": table, "topic.prefix": "stuck-",
        "poll.interval.ms": 200,
    }});
    assert_eq!(call(&c, "POST", "/connectors", "", Some(&body)).0, 201);
    c.wait_for(
        "the stuck call to time out",
        Duration::from_secs(60),
        || c.log_text().contains("task_wait_timeout_ms"),
    );
    // The task retries after its backoff and waits on the lock again.
    std::thread::sleep(Duration::from_secs(2));
    for (method, path, want) in [
        ("PUT", "/connectors/stuck/pause", 202),
        ("GET", "/connectors/stuck/status", 200),
        ("GET", "/connectors", 200),
        ("PUT", "/connectors/stuck/resume", 202),
        ("GET", "/connectors/stuck/status", 200),
        ("DELETE", "/connectors/stuck", 204),
    ] {
        if method == "DELETE" {
            // Resumed while its last run is still stuck: the task says it is restarting, not
            // PAUSED (found by a review helper).
            let (_, status) = call(&c, "GET", "/connectors/stuck/status", "", None);
            let status: Value = serde_json::from_str(&status).unwrap();
            assert_eq!(status["tasks"][0]["state"], "RESTARTING", "{status}");
        }
        let started = Instant::now();
        let (code, answer) = call(&c, method, path, "", None);
        let took = started.elapsed();
        assert_eq!(code, want, "{method} {path}: {answer}");
        assert!(
            took < Duration::from_secs(3),
            "{method} {path} waited {took:?} on a stuck task"
        );
    }
    block(lock.rollback()).unwrap();
    exec!(&db, format!("DROP TABLE {table}"));
}

/// Item 11, the task's half of fencing: a task stopped while its poll runs (paused here; a
/// worker fenced from its group stops its tasks the same way, at session timeout minus one
/// heartbeat interval) produces nothing of what that poll returns, however long the call
/// takes. (Before, the batch polled before the stop was produced after it.)
#[test]
fn a_task_stopped_during_its_poll_produces_nothing_it_polled() {
    let bad = crate::connectors::build_connector("connectd-test-misbehave");
    let c = Connectd::start_with(WORKER, "", |dir| {
        for folder in ["plugins", "connectors.d"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
        }
        std::fs::copy(&bad, dir.join("plugins/misbehave.wasm")).unwrap();
    });
    let body = json!({"name": "slow", "config": {"connector.class": "misbehave", "topic": "slow", "mode": "slow", "sleep.ms": 4000}});
    assert_eq!(call(&c, "POST", "/connectors", "", Some(&body)).0, 201);
    c.wait_for("the first poll to start", Duration::from_secs(30), || {
        c.log_text().contains("starting source task")
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(call(&c, "PUT", "/connectors/slow/pause", "", None).0, 202);
    // The poll returns its record about 3 s later; give it 5 s more to show up.
    std::thread::sleep(Duration::from_secs(8));
    let produced = read_to_end(&c.bootstrap(), "slow", 1);
    assert!(
        produced.is_empty(),
        "{} records produced after the stop",
        produced.len()
    );
    // Resumed, it polls again and produces.
    assert_eq!(call(&c, "PUT", "/connectors/slow/resume", "", None).0, 202);
    c.wait_for("a record after resuming", Duration::from_secs(30), || {
        !read_to_end(&c.bootstrap(), "slow", 1).is_empty()
    });
}

/// Helper finding (issue 29, the sandbox): a connector created through the REST API reaches no
/// path worker.toml's `grant_allowed_paths` does not list: not worker.toml itself (a
/// file-source reading it), not connectors_dir (a file-sink writing a connector file there),
/// not a SQLite file elsewhere, not through a symbolic link planted in an allowed folder. The
/// refusal is a 400 naming the key and the setting; a path below an allowed folder works, and
/// connector files keep naming any path. (Before, each of these was created and ran.)
#[test]
fn rest_created_connectors_reach_only_allowed_folders() {
    let c = Connectd::start_with(
        &format!("{WORKER}\ngrant_allowed_paths = [\"shared\"]"),
        "",
        |dir| {
            crate::connectors::install(
                dir,
                &[
                    ("connectd-file-source", "file-source"),
                    ("connectd-file-sink", "file-sink"),
                    ("connectd-sql-sink", "sql-sink"),
                ],
            );
            std::fs::create_dir_all(dir.join("shared")).unwrap();
            std::fs::create_dir_all(dir.join("deep/inner")).unwrap();
            std::os::unix::fs::symlink("/etc", dir.join("shared/etc")).unwrap();
            std::os::unix::fs::symlink(dir.join("deep/inner"), dir.join("shared/ext")).unwrap();
        },
    );
    let root = c.dir.path();
    let refused = [
        json!({"connector.class": "file-source", "topic": "t", "file": root.join("worker.toml").display().to_string()}),
        json!({"connector.class": "file-sink", "topics": "t", "file": "planted.toml"}),
        json!({"connector.class": "file-sink", "topics": "t", "file": root.join("shared/../connectors.d/x.toml").display().to_string()}),
        json!({"connector.class": "file-source", "topic": "t", "file": root.join("shared/etc/passwd").display().to_string()}),
        json!({"connector.class": "sql-sink", "topics": "t", "connection.url": format!("sqlite://{}/elsewhere.db", root.display())}),
        // The forms the driver reads differently from the text (found by a review helper).
        json!({"connector.class": "sql-sink", "topics": "t", "connection.url": format!("sqlite:{}/noslash.db", root.display())}),
        json!({"connector.class": "sql-sink", "topics": "t", "connection.url": format!("sqlite://{}/shared/%2E%2E/pct.db", root.display())}),
        // `..` after a link in an allowed folder climbs from where the link leads.
        json!({"connector.class": "file-sink", "topics": "t", "file": root.join("shared/ext/../pwned.txt").display().to_string()}),
        // Relative to connectors_dir, climbing out.
        json!({"connector.class": "file-sink", "topics": "t", "file": "../../shared/esc.txt"}),
    ];
    for (i, config) in refused.iter().enumerate() {
        let body = json!({"name": format!("bad{i}"), "config": config});
        let (code, answer) = call(&c, "POST", "/connectors", "", Some(&body));
        assert_eq!(code, 400, "{config}: {answer}");
        assert!(answer.contains("grant_allowed_paths"), "{answer}");
    }
    assert!(!root.join("connectors.d/planted.toml").exists());
    for made in ["noslash.db", "pct.db", "deep/pwned.txt"] {
        assert!(!root.join(made).exists(), "{made} was created");
    }
    let good = json!({"name": "good", "config": {"connector.class": "file-sink", "topics": "t", "file": root.join("shared/out.txt").display().to_string()}});
    assert_eq!(call(&c, "POST", "/connectors", "", Some(&good)).0, 201);
    c.wait_for("good runs", Duration::from_secs(30), || {
        call(&c, "GET", "/connectors/good/status", "", None)
            .1
            .contains("RUNNING")
    });
}
