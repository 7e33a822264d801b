//! Real databases for the SQL connectors' tests: PostgreSQL and MariaDB as this machine runs
//! them (127.0.0.1:5432 and :3306, database `test`), SQLite files, all through sqlx; a TCP
//! proxy that can take a database "down" for one test alone; and what a test reads back.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::support::Connectd;

pub const PLUGINS: &[(&str, &str)] = &[
    ("connectd-sql-source", "sql-source"),
    ("connectd-sql-sink", "sql-sink"),
];

/// A number for this test's own table and topic names.
pub fn suffix() -> u32 {
    rand::random::<u32>() % 1_000_000
}

/// Produces `(key, value)` records (a `None` value is a tombstone) to `topic`.
pub fn produce(c: &Connectd, topic: &str, records: &[(String, Option<String>)]) {
    let producer: BaseProducer = c.client().create().unwrap();
    for (key, value) in records {
        let mut r = BaseRecord::to(topic).key(key.as_str());
        if let Some(v) = value {
            r = r.payload(v.as_str());
        }
        producer.send(r).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/test";

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
});

/// Runs `f` to completion on the tests' runtime.
pub fn block<T>(f: impl Future<Output = T>) -> T {
    RUNTIME.block_on(f)
}

pub fn pg() -> sqlx::PgPool {
    block(sqlx::PgPool::connect(PG_URL)).expect("PostgreSQL on 127.0.0.1:5432 (database test)")
}

pub fn mariadb() -> sqlx::MySqlPool {
    block(sqlx::MySqlPool::connect(MARIADB_URL)).expect("MariaDB on 127.0.0.1:3306 (database test)")
}

pub fn sqlite(path: &std::path::Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    block(sqlx::SqlitePool::connect(&url)).unwrap()
}

/// Runs statements that return nothing on a pool, panicking with the one that failed.
macro_rules! exec {
    ($pool:expr, $($sql:expr),+ $(,)?) => {
        $(
            let sql: &str = &$sql;
            $crate::sql_support::block(sqlx::query(sql).execute($pool))
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        )+
    };
}
pub(crate) use exec;

/// `SELECT COUNT(*)` of `table` (quoted as given) on a pool, 0 while it does not exist.
macro_rules! count {
    ($pool:expr, $table:expr) => {{
        let sql = format!("SELECT COUNT(*) FROM {}", $table);
        $crate::sql_support::block(sqlx::query_as::<_, (i64,)>(&sql).fetch_one($pool))
            .map_or(0, |r| r.0)
    }};
}
pub(crate) use count;

/// A connector's status from the REST API: (connector state, each task's state and trace).
pub fn status(api: &str, name: &str) -> Vec<(String, String)> {
    let Ok(resp) = ureq::get(&format!("{api}/connectors/{name}/status")).call() else {
        return Vec::new();
    };
    let v: serde_json::Value = resp.into_json().unwrap();
    v["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["state"].as_str().unwrap_or_default().to_string(),
                t["trace"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Whether consumer group `group` has committed every record of `topic` (one partition).
pub fn caught_up(bootstrap: &str, group: &str, topic: &str) -> bool {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let Ok((_, high)) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(5)) else {
        return false;
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(5)) else {
        return false;
    };
    matches!(committed.elements()[0].offset(), Offset::Offset(o) if o == high && high > 0)
}

/// A TCP proxy on a free loopback port to `upstream`, which can go down (refusing and cutting
/// every connection) and come back on the same port: a database outage for one test, while
/// the database itself keeps serving the others.
pub struct Proxy {
    pub port: u16,
    upstream: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let port = crate::support::free_port();
        let p = Proxy {
            port,
            upstream: upstream.to_string(),
            up: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(Vec::new())),
        };
        p.up();
        p
    }

    /// Starts accepting again.
    pub fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (up, open, upstream) = (self.up.clone(), self.open.clone(), self.upstream.clone());
        std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut sockets = open.lock().unwrap();
                sockets.push(client.try_clone().unwrap());
                sockets.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
    }

    /// Stops accepting and cuts every open connection.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // The accept loop drops the listener within its next sleep.
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

/// A PostgreSQL of the test's own on a free port that accepts TLS connections only
/// (`hostssl` in pg_hba.conf, every plain connection rejected), with the certificate of
/// [`crate::broker_security::make_certificates`] for localhost. Stopped when dropped.
pub struct TlsPostgres {
    pub port: u16,
    /// The CA that signed its certificate.
    pub ca: std::path::PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl TlsPostgres {
    pub fn start() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries in /usr/lib/postgresql")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .max()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        crate::broker_security::make_certificates(dir.path());
        let data = dir.path().join("pgdata");
        std::fs::create_dir(&data).unwrap();
        for f in ["broker.crt", "broker.key"] {
            std::fs::copy(dir.path().join(f), data.join(f)).unwrap();
        }
        // PostgreSQL runs as its own user (never root) and wants its key private.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let as_postgres = |program: &std::path::Path| {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        };
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&data)
            .status()
            .unwrap();
        assert!(status.success(), "chown the PostgreSQL data folder");
        std::fs::set_permissions(
            data.join("broker.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let init = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(data.join("db"))
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        std::fs::write(
            data.join("db/pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
        )
        .unwrap();
        let port = crate::support::free_port();
        let child = as_postgres(&bin.join("postgres"))
            .arg("-D")
            .arg(data.join("db"))
            .args(["-p", &port.to_string(), "-k"])
            .arg(&data)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "ssl=on",
                "-c",
                "fsync=off",
            ])
            .arg("-c")
            .arg(format!(
                "ssl_cert_file={}",
                data.join("broker.crt").display()
            ))
            .arg("-c")
            .arg(format!(
                "ssl_key_file={}",
                data.join("broker.key").display()
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::support::wait_for_port(port, Duration::from_secs(30));
        TlsPostgres {
            port,
            ca: dir.path().join("ca.pem"),
            child,
            _dir: dir,
        }
    }

    /// A URL that verifies the server's certificate and name.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
            self.port,
            self.ca.display()
        )
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        // SIGTERM: PostgreSQL's smart shutdown; the test does not wait for it.
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
