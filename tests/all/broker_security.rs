//! The broker's security with clients no one here wrote: TLS, SASL (SCRAM-SHA-512,
//! SCRAM-SHA-256, PLAIN) and ACLs on connectd's listeners, with Debian's kcat,
//! confluent-kafka and kafka-python (tests/python/secure_clients.py), mTLS principals, and
//! `connectd users`. The certificates are made here with openssl.

use crate::support::{Connectd, free_port, kcat, repo_root, run_tool};
use std::path::Path;

/// The admin user's password, given to connectd through the environment.
const ADMIN_PASSWORD: &str = "admin-s3cret";

/// Runs openssl in `dir`, panicking with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let (ok, out, err) = run_tool("openssl", args, Some(dir));
    assert!(ok, "openssl {args:?} failed:\n{out}\n{err}");
}

/// A certificate signed by the CA in `dir` (ca.pem, ca.key): `<name>.key` and `<name>.crt`.
fn signed(dir: &Path, name: &str, subject: &str, extensions: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// A CA, a broker certificate for localhost and 127.0.0.1 (`broker.pem` holds it and the
/// CA), and client certificates for alice and bob.
pub fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=connectd test CA",
        ],
    );
    signed(
        dir,
        "broker",
        "/CN=localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    );
    let chain = [
        std::fs::read_to_string(dir.join("broker.crt")).unwrap(),
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("broker.pem"), chain).unwrap();
    for (name, subject) in [
        ("alice", "/O=example/CN=alice"),
        ("bob", "/O=example/CN=bob"),
    ] {
        signed(
            dir,
            name,
            subject,
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        );
    }
}

fn sasl_ssl(ca: &Path, mechanism: &str, user: &str, password: &str) -> Vec<String> {
    [
        "security.protocol=SASL_SSL".to_string(),
        format!("sasl.mechanisms={mechanism}"),
        format!("sasl.username={user}"),
        format!("sasl.password={password}"),
        format!("ssl.ca.location={}", ca.display()),
    ]
    .into_iter()
    .flat_map(|p| ["-X".to_string(), p])
    .collect()
}

fn args<'a>(security: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    security
        .iter()
        .map(String::as_str)
        .chain(rest.iter().copied())
        .collect()
}

/// A broker with a PLAINTEXT listener and a SASL_SSL one, an admin user from the
/// environment, and a second super user.
fn secured_broker() -> (Connectd, u16) {
    let sasl_port = free_port();
    let c = Connectd::start_with_env(
        "",
        "",
        &format!(
            "listeners = [\"PLAINTEXT://127.0.0.1:{{port}}\", \"SASL_SSL://127.0.0.1:{sasl_port}\"]\n\
             super_users = [\"User:root\"]\n\
             [broker.ssl]\ncertificate = \"broker.pem\"\nkey = \"broker.key\"\n\
             [broker.sasl]\nadmin_user = \"admin\"\nadmin_password = \"${{env:CONNECTD_TEST_ADMIN_PASSWORD}}\"\n"
        ),
        &[("CONNECTD_TEST_ADMIN_PASSWORD", ADMIN_PASSWORD)],
        make_certificates,
    );
    crate::support::wait_for_port(sasl_port, std::time::Duration::from_secs(20));
    (c, sasl_port)
}

#[test]
fn python_clients_over_sasl_ssl_with_scram_users_and_acls() {
    let (c, sasl_port) = secured_broker();
    let script = repo_root().join("tests/python/secure_clients.py");
    let ca = c.dir.path().join("ca.pem");
    let (ok, out, err) = run_tool(
        "python3",
        &[
            script.to_str().unwrap(),
            &format!("localhost:{sasl_port}"),
            ca.to_str().unwrap(),
            ADMIN_PASSWORD,
        ],
        None,
    );
    assert!(
        ok,
        "tests/python/secure_clients.py failed\nstdout:\n{out}\nstderr:\n{err}\nbroker log:\n{}",
        c.log_text()
    );
    for check in ["confluent-kafka: ok", "kafka-python: ok"] {
        assert!(out.contains(check), "missing {check:?} in:\n{out}");
    }
    // No password reached the disk: the credentials file holds salts and keys only.
    let stored =
        std::fs::read_to_string(c.data_dir().join("__meta/scram-credentials.json")).unwrap();
    assert!(
        stored.contains("\"admin\"") && !stored.contains(ADMIN_PASSWORD),
        "{stored}"
    );
}

#[test]
fn kcat_and_the_users_command_over_sasl_ssl() {
    let (c, sasl_port) = secured_broker();
    let bootstrap = format!("localhost:{sasl_port}");
    let ca = c.dir.path().join("ca.pem");
    let admin = sasl_ssl(&ca, "SCRAM-SHA-512", "admin", ADMIN_PASSWORD);

    // kcat (librdkafka 2.0) produces, consumes and lists as the admin.
    let (ok, _, err) = kcat(
        &bootstrap,
        &args(&admin, &["-P", "-t", "secured", "-K:"]),
        Some("k1:one\nk2:two\nk3:three\n"),
    );
    assert!(ok, "kcat produce over SASL_SSL: {err}");
    let (ok, out, err) = kcat(
        &bootstrap,
        &args(
            &admin,
            &[
                "-C",
                "-t",
                "secured",
                "-e",
                "-o",
                "beginning",
                "-f",
                "%k=%s\n",
            ],
        ),
        None,
    );
    assert!(
        ok && out == "k1=one\nk2=two\nk3=three\n",
        "kcat consume: {out}\n{err}"
    );
    let (ok, out, _) = kcat(&bootstrap, &args(&admin, &["-L"]), None);
    assert!(ok && out.contains("topic \"secured\""), "kcat -L: {out}");

    // `connectd users` creates a user over KIP-554; it logs in with both SCRAM mechanisms
    // and PLAIN, and has no ACL yet.
    let cli = |extra: &[String], rest: &[&str]| {
        let mut a = vec!["users", "-b", &bootstrap];
        a.extend(extra.iter().map(String::as_str));
        a.extend(rest);
        run_tool(env!("CARGO_BIN_EXE_connectd"), &a, None)
    };
    let (ok, out, err) = cli(&admin, &["create", "dana", "--password", "dana-pw"]);
    assert!(ok && out.contains("user dana created"), "{out}\n{err}");
    let (ok, out, _) = cli(&admin, &["list"]);
    assert!(
        ok && out.contains("dana") && out.contains("SCRAM-SHA-512 (iterations 8192)"),
        "{out}"
    );
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let dana = sasl_ssl(&ca, mechanism, "dana", "dana-pw");
        let (ok, out, err) = kcat(
            &bootstrap,
            &args(&dana, &["-C", "-t", "secured", "-e", "-o", "beginning"]),
            None,
        );
        assert!(
            !ok && !out.contains("one") && err.contains("Topic authorization failed"),
            "dana ({mechanism}) logs in but may not read: {out}\n{err}"
        );
    }
    let dana = sasl_ssl(&ca, "SCRAM-SHA-512", "dana", "dana-pw");
    let (ok, _, err) = cli(&dana, &["list"]);
    assert!(
        !ok && err.contains("ClusterAuthorizationFailed"),
        "dana may not list users: {err}"
    );

    // Refused with the errors librdkafka reports: a wrong password, an unknown user, a
    // PLAINTEXT client on the SASL_SSL port.
    for (who, security) in [
        (
            "a wrong password",
            sasl_ssl(&ca, "SCRAM-SHA-512", "admin", "wrong"),
        ),
        (
            "an unknown user",
            sasl_ssl(&ca, "SCRAM-SHA-512", "nobody", "x"),
        ),
        (
            "a wrong PLAIN password",
            sasl_ssl(&ca, "PLAIN", "admin", "wrong"),
        ),
    ] {
        let (ok, _, err) = kcat(&bootstrap, &args(&security, &["-L", "-m", "5"]), None);
        assert!(
            !ok && err
                .contains("Authentication failed during authentication due to invalid credentials"),
            "{who}: {err}"
        );
    }
    let (ok, _, err) = kcat(&bootstrap, &["-L", "-m", "5"], None);
    assert!(
        !ok && err.contains("Disconnected while requesting ApiVersion"),
        "PLAINTEXT on SASL_SSL: {err}"
    );

    // The PLAINTEXT listener's clients are User:ANONYMOUS, and no ACL lets them in.
    let (ok, _, err) = kcat(
        &c.bootstrap(),
        &["-C", "-t", "secured", "-e", "-o", "beginning"],
        None,
    );
    assert!(
        !ok && err.contains("Topic authorization failed"),
        "anonymous: {err}"
    );

    // Deleted, dana cannot log in any more.
    let (ok, out, err) = cli(&admin, &["delete", "dana"]);
    assert!(ok && out.contains("user dana deleted"), "{out}\n{err}");
    let (ok, _, err) = kcat(&bootstrap, &args(&dana, &["-L", "-m", "5"]), None);
    assert!(
        !ok && err.contains("Authentication failed"),
        "deleted dana: {err}"
    );
}

#[test]
fn mutual_tls_names_the_principal_from_the_certificate() {
    let ssl_port = free_port();
    let c = Connectd::start_with(
        "",
        &format!(
            "listeners = [\"PLAINTEXT://127.0.0.1:{{port}}\", \"SSL://127.0.0.1:{ssl_port}\"]\n\
             super_users = [\"User:CN=alice,O=example\"]\n\
             [broker.ssl]\ncertificate = \"broker.pem\"\nkey = \"broker.key\"\ntruststore = \"ca.pem\"\nclient_auth = \"required\"\n"
        ),
        make_certificates,
    );
    crate::support::wait_for_port(ssl_port, std::time::Duration::from_secs(20));
    let dir = c.dir.path();
    let bootstrap = format!("localhost:{ssl_port}");
    let tls = |who: Option<&str>| {
        let mut a = vec![
            "-X".to_string(),
            "security.protocol=SSL".into(),
            "-X".into(),
            format!("ssl.ca.location={}", dir.join("ca.pem").display()),
        ];
        if let Some(who) = who {
            a.extend([
                "-X".into(),
                format!(
                    "ssl.certificate.location={}",
                    dir.join(format!("{who}.crt")).display()
                ),
                "-X".into(),
                format!(
                    "ssl.key.location={}",
                    dir.join(format!("{who}.key")).display()
                ),
            ]);
        }
        a
    };
    // alice's certificate makes her User:CN=alice,O=example, a super user.
    let alice = tls(Some("alice"));
    let (ok, _, err) = kcat(
        &bootstrap,
        &args(&alice, &["-P", "-t", "mtls"]),
        Some("hello\n"),
    );
    assert!(ok, "alice produces over mTLS: {err}\n{}", c.log_text());
    let (ok, out, err) = kcat(
        &bootstrap,
        &args(&alice, &["-C", "-t", "mtls", "-e", "-o", "beginning"]),
        None,
    );
    assert!(ok && out == "hello\n", "alice consumes: {out}\n{err}");
    // bob's certificate is valid but names a principal no ACL allows.
    let bob = tls(Some("bob"));
    let (ok, _, err) = kcat(
        &bootstrap,
        &args(&bob, &["-C", "-t", "mtls", "-e", "-o", "beginning"]),
        None,
    );
    assert!(
        !ok && err.contains("Topic authorization failed"),
        "bob: {err}"
    );
    // Without a certificate the handshake fails.
    let (ok, _, err) = kcat(&bootstrap, &args(&tls(None), &["-L", "-m", "5"]), None);
    assert!(
        !ok && err.contains("certificate required"),
        "no certificate: {err}"
    );
    assert!(
        c.log_text().contains("TLS handshake"),
        "the broker logs the refused handshake"
    );
}

#[test]
fn the_rest_api_serves_https_with_the_configured_certificate() {
    let c = Connectd::start_with_api(
        crate::support::WORKER,
        "tls_cert = \"broker.pem\"\ntls_key = \"broker.key\"",
        "",
        |dir| {
            make_certificates(dir);
            std::fs::create_dir_all(dir.join("plugins")).unwrap();
            std::fs::create_dir_all(dir.join("connectors.d")).unwrap();
        },
    );
    // Python's TLS client (OpenSSL) checks the chain and the name against the test CA.
    let fetch = |url: &str| {
        let script = format!(
            "import ssl, urllib.request\n\
             ctx = ssl.create_default_context(cafile={ca:?})\n\
             print(urllib.request.urlopen({url:?}, context=ctx, timeout=10).read().decode())",
            ca = c.dir.path().join("ca.pem").display().to_string(),
        );
        run_tool("python3", &["-c", &script], None)
    };
    let (ok, out, err) = fetch(&format!("https://localhost:{}/", c.api_port));
    assert!(
        ok && out.contains("\"version\""),
        "GET / over HTTPS: {out}\n{err}"
    );
    let (ok, out, err) = fetch(&format!("https://localhost:{}/connectors", c.api_port));
    assert!(
        ok && out.trim() == "[]",
        "GET /connectors over HTTPS: {out}\n{err}"
    );
    // Plain HTTP to the HTTPS port gets no answer.
    let (ok, _, err) = fetch(&format!("http://localhost:{}/", c.api_port));
    assert!(!ok, "plain HTTP must not be served: {err}");
    assert!(c.log_text().contains("REST API: TLS handshake failed"));
}

/// kcat reading metadata as the admin over the SASL_PLAINTEXT listener on `port`: whether
/// it succeeded, its output and its errors.
fn admin_metadata(port: u16) -> (bool, String, String) {
    let admin: Vec<String> = [
        "security.protocol=SASL_PLAINTEXT".to_string(),
        "sasl.mechanisms=SCRAM-SHA-256".into(),
        "sasl.username=admin".into(),
        format!("sasl.password={ADMIN_PASSWORD}"),
    ]
    .into_iter()
    .flat_map(|p| ["-X".to_string(), p])
    .collect();
    kcat(
        &format!("127.0.0.1:{port}"),
        &args(&admin, &["-L", "-m", "5"]),
        None,
    )
}

/// Clients that fill `max_connections` on one listener do not lock the workers out of
/// theirs: with several listeners, `worker_listener` has a pool of its own (as Kafka never
/// refuses its inter-broker listener).
#[test]
fn a_full_listener_leaves_the_worker_listener_open() {
    use std::io::Read;
    use std::time::Duration;
    let sasl = free_port();
    let c = Connectd::start(&format!(
        "listeners = [\"PLAINTEXT://127.0.0.1:{{port}}\", \"SASL_PLAINTEXT://127.0.0.1:{sasl}\"]\n\
         worker_listener = \"SASL_PLAINTEXT\"\nmax_connections = 20\n\
         [broker.sasl]\nadmin_user = \"admin\"\nadmin_password = \"{ADMIN_PASSWORD}\"\n"
    ));
    crate::support::wait_for_port(sasl, Duration::from_secs(20));
    // The ports' readiness probes are closed and no longer counted.
    std::thread::sleep(Duration::from_millis(500));
    // Idle strangers on the PLAINTEXT listener, more than max_connections.
    let mut idle: Vec<std::net::TcpStream> = (0..30)
        .filter_map(|_| std::net::TcpStream::connect(c.bootstrap()).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed = idle
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            // Closed by the broker: end of stream or reset; open: the read times out.
            let mut b = [0u8; 1];
            match (&**s).read(&mut b) {
                Ok(0) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                Ok(_) => false,
            }
        })
        .count();
    assert!(
        closed >= 10,
        "connections over max_connections on PLAINTEXT are closed ({closed} of 30)"
    );
    // Any slot freed meanwhile is taken again.
    idle.extend((0..5).filter_map(|_| std::net::TcpStream::connect(c.bootstrap()).ok()));
    let (ok, out, err) = admin_metadata(sasl);
    assert!(
        ok && out.contains("1 brokers"),
        "the worker listener serves the admin while PLAINTEXT is full: {out}\n{err}\n{}",
        c.log_text()
    );
    drop(idle);
}

/// Strangers on a SASL listener hold nothing for long: frames that claim the most a stranger
/// may send (512 KiB) and never send it take none of the broker's request budget, so the
/// admin is still served while 600 of them wait; a connection that does not authenticate
/// within 10 s is closed.
#[test]
fn strangers_before_authentication_hold_no_budget_and_are_closed() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let sasl = free_port();
    let c = Connectd::start(&format!(
        "listeners = [\"PLAINTEXT://127.0.0.1:{{port}}\", \"SASL_PLAINTEXT://127.0.0.1:{sasl}\"]\n\
         [broker.sasl]\nadmin_user = \"admin\"\nadmin_password = \"{ADMIN_PASSWORD}\"\n"
    ));
    crate::support::wait_for_port(sasl, Duration::from_secs(20));
    // A stranger that pipelines 40,000 ApiVersions requests (600 KB) and never reads the
    // answers: they fill the socket, and the broker's queue behind it.
    let mut pipeliner = std::net::TcpStream::connect(("127.0.0.1", sasl)).unwrap();
    let one = crate::wire::request(
        kafka_protocol::messages::ApiKey::ApiVersions,
        0,
        &kafka_protocol::messages::ApiVersionsRequest::default(),
    );
    let mut many = Vec::new();
    for _ in 0..40_000 {
        many.extend_from_slice(&(one.len() as i32).to_be_bytes());
        many.extend_from_slice(&one);
    }
    pipeliner.write_all(&many).unwrap();
    // 600 x 512 KiB is more than the whole request budget (256 MiB).
    let mut strangers: Vec<std::net::TcpStream> = (0..600)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", sasl)).unwrap();
            s.write_all(&(512 * 1024i32).to_be_bytes()).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let (ok, out, err) = admin_metadata(sasl);
    assert!(
        ok && out.contains("1 brokers"),
        "the admin is served while strangers wait: {out}\n{err}\n{}",
        c.log_text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served in {:?}",
        started.elapsed()
    );
    // Within about 10 s of connecting every stranger is closed: a read sees the end.
    let mut first = strangers.remove(0);
    first
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        first.read(&mut buf).unwrap_or(1),
        0,
        "the stranger's connection is closed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "closed after {:?}",
        started.elapsed()
    );
    // The pipeliner too: what it reads now ends (or is reset) by the deadline.
    pipeliner
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answers = vec![0u8; 1 << 20];
    let closed = loop {
        match pipeliner.read(&mut answers) {
            Ok(0) => break true,
            Ok(_) => continue,
            // The read timed out: still open.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false;
            }
            // Reset: the broker closed with answers unsent.
            Err(_) => break true,
        }
    };
    assert!(
        closed,
        "a stranger that never reads is closed within the deadline ({:?})",
        started.elapsed()
    );
}

/// A user that logs in and then starts frames it never finishes holds at most its
/// principal's quarter of the request budget: 16 connections of it, each holding a
/// connection's whole share (1/16), leave the admin served at once.
#[test]
fn a_user_holding_half_sent_frames_cannot_stall_the_others() {
    use kafka_protocol::messages::{
        ApiKey, MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse,
        SaslHandshakeRequest,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let sasl = free_port();
    let c = Connectd::start(&format!(
        "listeners = [\"PLAINTEXT://127.0.0.1:{{port}}\", \"SASL_PLAINTEXT://127.0.0.1:{sasl}\"]\n\
         queued_max_request_bytes = 1048576\n\
         [broker.sasl]\nadmin_user = \"admin\"\nadmin_password = \"{ADMIN_PASSWORD}\"\n"
    ));
    crate::support::wait_for_port(sasl, Duration::from_secs(20));
    let bootstrap = format!("127.0.0.1:{sasl}");
    let admin = [
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanism=SCRAM-SHA-512",
        "-X",
        "sasl.username=admin",
        "-X",
        &format!("sasl.password={ADMIN_PASSWORD}"),
    ];
    let mut create = vec!["users", "-b", &bootstrap];
    create.extend(admin.iter().copied());
    create.extend(["create", "bob", "--password", "bob-pw"]);
    let (ok, out, err) = run_tool(env!("CARGO_BIN_EXE_connectd"), &create, None);
    assert!(ok, "{out}\n{err}");
    // A raw connection logged in with SASL PLAIN.
    let login = |user: &str, password: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", sasl)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
        crate::wire::send_raw(
            &mut s,
            &crate::wire::request(ApiKey::SaslHandshake, 1, &handshake),
        );
        crate::wire::read_response(&mut s);
        let auth = SaslAuthenticateRequest::default()
            .with_auth_bytes(format!("\0{user}\0{password}").into_bytes().into());
        crate::wire::send_raw(
            &mut s,
            &crate::wire::request(ApiKey::SaslAuthenticate, 2, &auth),
        );
        let mut answer = crate::wire::read_response(&mut s);
        // The response header of a flexible version: correlation id and tagged fields.
        let header_version = ApiKey::SaslAuthenticate.response_header_version(2);
        let _ =
            kafka_protocol::messages::ResponseHeader::decode(&mut answer, header_version).unwrap();
        let r = SaslAuthenticateResponse::decode(&mut answer, 2).unwrap();
        assert_eq!(r.error_code, 0, "{user} logs in: {:?}", r.error_message);
        s
    };
    // Each share is 64 KiB here: every frame claims one and a byte, and sends one byte.
    let _held: Vec<std::net::TcpStream> = (0..16)
        .map(|_| {
            let mut s = login("bob", "bob-pw");
            s.write_all(&(64 * 1024 + 1i32).to_be_bytes()).unwrap();
            s.write_all(&[0]).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut s = login("admin", ADMIN_PASSWORD);
    let started = Instant::now();
    crate::wire::send_raw(
        &mut s,
        &crate::wire::request(ApiKey::Metadata, 12, &MetadataRequest::default()),
    );
    let mut size = [0u8; 4];
    assert!(
        s.read_exact(&mut size).is_ok(),
        "the admin's Metadata is answered while bob holds his share ({:?})\n{}",
        started.elapsed(),
        c.log_text()
    );
}
