//! What the lake-sink tests share: moto's S3 server on a free port, the Python readers
//! (pyarrow, DuckDB) and records with everything a lake must keep.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};

use crate::support::{Connectd, free_port, repo_root, wait_for_port};

pub const PLUGINS: &[(&str, &str)] = &[
    ("connectd-lake-sink", "lake-sink"),
    ("connectd-file-source", "file-source"),
];

/// A `moto_server` (pip `moto[server]`): a real S3 API on 127.0.0.1, killed on drop.
pub struct Moto {
    pub port: u16,
    child: Child,
    /// The keys `lake.py keys` made, when started with auth on.
    pub keys: Option<(String, String)>,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_on(free_port(), false)
    }

    /// On `port`; with `auth`, only the keys of an IAM user it makes are accepted.
    pub fn start_on(port: u16, auth: bool) -> Moto {
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if auth {
            // The first actions (making the user and its keys) need no keys.
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "3");
        }
        let child = cmd
            .spawn()
            .expect("running moto_server (pip install 'moto[server]'; bash .ci/run installs it)");
        wait_for_port(port, Duration::from_secs(30));
        let mut moto = Moto {
            port,
            child,
            keys: None,
        };
        if auth {
            let k = moto.py(&["keys", &moto.endpoint()]);
            moto.keys = Some((
                k["id"].as_str().unwrap().into(),
                k["secret"].as_str().unwrap().into(),
            ));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `tests/python/lake.py` with this server's keys.
    pub fn py(&self, args: &[&str]) -> Value {
        let (id, secret) = self
            .keys
            .clone()
            .unwrap_or(("testing".into(), "testing".into()));
        lake_py(args, &[("LAKE_KEY_ID", &id), ("LAKE_SECRET", &secret)])
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.py(&["bucket", &self.endpoint(), bucket]);
    }

    /// Every object key in `bucket`, and how many multipart uploads are unfinished.
    pub fn list(&self, bucket: &str) -> (Vec<String>, u64) {
        let v = self.py(&["list", &self.endpoint(), bucket]);
        let objects = v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
        (objects, v["unfinished_uploads"].as_u64().unwrap())
    }

    /// Every row of every Parquet object under `prefix`, read by pyarrow.
    pub fn rows(&self, bucket: &str, prefix: &str) -> Vec<Value> {
        rows(self.py(&["read", &self.endpoint(), bucket, prefix]))
    }

    /// The config lines of a lake-sink writing to `bucket/prefix` here.
    pub fn sink_keys(&self, bucket: &str, prefix: &str) -> String {
        let (id, secret) = self
            .keys
            .clone()
            .unwrap_or(("testing".into(), "testing".into()));
        format!(
            "\"store.url\" = \"s3://{bucket}/{prefix}\"\n\"s3.endpoint\" = \"{}\"\n\"aws.access.key.id\" = \"{id}\"\n\"aws.secret.access.key\" = \"{secret}\"\n",
            self.endpoint()
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rows(v: Value) -> Vec<Value> {
    v["rows"].as_array().cloned().unwrap_or_default()
}

/// Runs `tests/python/lake.py` and parses what it prints.
pub fn lake_py(args: &[&str], env: &[(&str, &str)]) -> Value {
    let script = repo_root().join("tests/python/lake.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "lake.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("lake.py prints JSON")
}

/// Every row of every Parquet file under a local folder, read by pyarrow.
pub fn local_rows(dir: &Path) -> Vec<Value> {
    if !dir.exists() {
        return Vec::new();
    }
    rows(lake_py(&["read-local", &dir.to_string_lossy()], &[]))
}

/// The rows of a DuckDB query.
pub fn duckdb(sql: &str) -> Vec<Value> {
    rows(lake_py(&["duckdb", sql], &[]))
}

/// Record `i` of the round trip: unicode with quotes and a newline, nulls, nesting, lists, an
/// integer beyond 2^53, and a 100 KiB string in every 50th record.
pub fn record(i: i64) -> Value {
    json!({
        "id": (1_i64 << 53) + 1 + i,
        "name": format!("名前 \"{i}\"\nü ✓"),
        "score": if i % 3 == 0 { Value::Null } else { json!(i as f64 / 4.0) },
        "nested": {"level": i % 5, "tags": ["a", null, format!("t{i}")], "deep": {"ok": i % 2 == 0}},
        "big": if i % 50 == 0 { "x".repeat(100 * 1024) } else { format!("small {i}") },
        "none": null,
    })
}

/// Produces JSON `values` to partition 0 of `topic`, each with its timestamp.
pub fn produce_at(c: &Connectd, topic: &str, values: &[(i64, Value)]) {
    let producer: BaseProducer = c
        .client()
        .set("message.max.bytes", "10000000")
        .create()
        .unwrap();
    for (at, value) in values {
        let payload = value.to_string();
        let key = value["id"].to_string();
        loop {
            let r = BaseRecord::to(topic)
                .partition(0)
                .key(&key)
                .payload(&payload)
                .timestamp(*at);
            match producer.send(r) {
                Ok(()) => break,
                Err((_, _)) => producer.poll(Duration::from_millis(50)),
            };
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// `rows` by id, without the columns the readers add (`__file`) and the Kafka ones.
pub fn by_id(rows: &[Value]) -> std::collections::BTreeMap<i64, Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            let m = r.as_object_mut().unwrap();
            m.retain(|k, _| k != "__file" && !k.starts_with("kafka_"));
            (m["id"].as_i64().unwrap(), r)
        })
        .collect()
}
