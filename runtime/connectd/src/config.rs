//! worker.toml: what `connectd --config` reads.
//!
//! Relative paths in the file are resolved against the file's own directory, so a config
//! works the same from any working directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use connectd_broker::BrokerConfig;
use serde::Deserialize;

/// The whole worker.toml, as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkerFile {
    worker: WorkerSection,
    #[serde(default)]
    broker: toml::Table,
    #[serde(default)]
    api: ApiSection,
    #[serde(default)]
    kafka: toml::Table,
    #[serde(default)]
    cluster: Option<ClusterSection>,
}

/// The whole worker.toml.
#[derive(Debug)]
pub struct WorkerFile {
    /// `[worker]`: where this worker keeps its state.
    pub worker: WorkerSection,
    /// `[broker] mode`: which topic store the worker runs against.
    pub mode: BrokerMode,
    /// The rest of `[broker]`: the embedded broker engine's settings (every key has a
    /// default).
    pub broker: BrokerConfig,
    /// `[api]`: the REST API, served while the worker runs connectors.
    pub api: ApiSection,
    /// `[kafka]`: librdkafka properties for every client of `mode = "kafka"` (security,
    /// SASL, TLS, compression), as strings.
    pub kafka: Vec<(String, String)>,
    /// `[cluster]`: scale out, sharing the connectors' tasks with the other workers of a group.
    pub cluster: Option<ClusterSection>,
}

/// The `[cluster]` section: workers with the same `group_id`, on the same Kafka cluster
/// (or one of them serving the embedded broker to the others), share the connectors' tasks
/// through Kafka's group membership (Kafka Connect's distributed mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// The group the workers join (Kafka Connect's `group.id`). Required.
    pub group_id: String,
    /// A worker silent this long is removed and its tasks move (Kafka's
    /// `session.timeout.ms`). Default 6000: failover takes about this long. Kafka Connect's
    /// 10000 with 3 s heartbeats would make failover 10-13 s; connectd heartbeats from a
    /// thread of its own that no task can hold up.
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: u64,
    /// How often a worker heartbeats (Kafka's `heartbeat.interval.ms`); under half the
    /// session timeout. Default 1000.
    #[serde(default = "default_heartbeat_interval_ms")]
    pub heartbeat_interval_ms: u64,
    /// How long the coordinator waits for every worker to join a rebalance (Kafka's
    /// `rebalance.timeout.ms`). Default 60000.
    #[serde(default = "default_rebalance_timeout_ms")]
    pub rebalance_timeout_ms: u64,
}

fn default_session_timeout_ms() -> u64 {
    6_000
}
fn default_heartbeat_interval_ms() -> u64 {
    1_000
}
fn default_rebalance_timeout_ms() -> u64 {
    60_000
}

/// The `[api]` section: Kafka Connect's REST API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Address the REST API listens on (Kafka Connect's `listeners`). Default
    /// `127.0.0.1:8083`.
    #[serde(default = "default_api_listen")]
    pub listen: String,
    /// A bearer token every request must carry (`Authorization: Bearer <token>`; the status
    /// page takes it once as `/ui?token=<token>` and keeps it in a cookie); `${env:NAME}`
    /// reads it from the environment. Unset: no token, and connectd warns at start.
    #[serde(default)]
    pub token: Option<String>,
    /// Host names the API answers to besides IP addresses, `localhost`, and the hosts of
    /// `listen` and `advertised_listen` (a request naming another host in `Host` is refused:
    /// a DNS-rebinding page cannot reach it); `"*"` answers any. Default: none.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Connections the API keeps open at once; one more is closed at once. Default 256.
    #[serde(default = "default_api_max_connections")]
    pub max_connections: usize,
    /// How long a connection may take to send a request's head, in ms: a half-sent header
    /// or a kept-alive connection left idle longer is closed. Default 30000.
    #[serde(default = "default_api_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long a request may take, from its head to its answer (a body sent slowly
    /// included), in ms; later it is answered 408 and its connection closed. Default 60000.
    #[serde(default = "default_api_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Serve Prometheus metrics at `GET /metrics`. Default `true`; `false` records nothing.
    #[serde(default = "default_true")]
    pub metrics: bool,
    /// How this worker is named in status and to the other workers of a `[cluster]` (Kafka
    /// Connect's `rest.advertised.host.name` and port): `host:port`. `${env:NAME}` anywhere
    /// in it is replaced by that environment variable (e.g. `${env:HOSTNAME}:8083` in a
    /// Kubernetes StatefulSet). Default: `listen`.
    #[serde(default)]
    pub advertised_listen: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, the server's own first); with
    /// `tls_key`. The files are read again when they change. Default: plain HTTP.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: default_api_listen(),
            token: None,
            allowed_hosts: Vec::new(),
            max_connections: default_api_max_connections(),
            header_timeout_ms: default_api_header_timeout_ms(),
            request_timeout_ms: default_api_request_timeout_ms(),
            metrics: true,
            advertised_listen: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_api_max_connections() -> usize {
    256
}

fn default_api_header_timeout_ms() -> u64 {
    30_000
}

fn default_api_request_timeout_ms() -> u64 {
    60_000
}

fn default_api_listen() -> String {
    "127.0.0.1:8083".into()
}

/// Which topic store the worker uses: `[broker] mode`. The choice is the binary's: the
/// broker engine and the worker's backends do not know about each other.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BrokerMode {
    /// `mode = "embedded"` (the default): connectd hosts its own broker engine.
    #[default]
    Embedded,
    /// `mode = "kafka"` with `bootstrap_servers = "host:port,..."`: an external Kafka cluster.
    Kafka {
        /// The cluster's bootstrap servers.
        bootstrap_servers: String,
    },
}

/// The `[worker]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Directory for topic data and broker metadata. Created if missing.
    pub data_dir: PathBuf,
    /// Folder of connector plugins (`.wasm` components). With `connectors_dir`, runs connectors.
    #[serde(default)]
    pub plugin_dir: Option<PathBuf>,
    /// Folder of connector configs, one `.toml` per connector.
    #[serde(default)]
    pub connectors_dir: Option<PathBuf>,
    /// Memory limit of each connector task, in bytes. Default 256 MiB.
    #[serde(default = "default_task_memory_bytes")]
    pub task_memory_bytes: usize,
    /// CPU time one call into a connector may take before it is stopped, in ms. Default 10000.
    #[serde(default = "default_task_call_timeout_ms")]
    pub task_call_timeout_ms: u64,
    /// The longest one call into a connector may wait, in all, on databases and object
    /// stores, in ms (not counted in `task_call_timeout_ms`); past it the statement or
    /// request is cancelled and the call gets a retryable connection error, so a stopping
    /// task ends within it. Default 60000.
    #[serde(default = "default_task_wait_timeout_ms")]
    pub task_wait_timeout_ms: u64,
    /// Directories a connector's `${file:/path}` may read below (Kafka's
    /// `config.providers.file.param.allowed.paths`, KIP-993); relative to this file. Default:
    /// none (the folder of worker.toml holds worker.toml itself, and often `data_dir`).
    #[serde(default)]
    pub config_providers_file_allowed_paths: Option<Vec<PathBuf>>,
    /// The environment variables a connector's `${env:NAME}` may read: a regular expression
    /// the whole name must match (Kafka's `config.providers.env.param.allowlist.pattern`,
    /// KIP-887), e.g. `"DB_PASSWORD|AWS_.*"`. Default: none.
    #[serde(default)]
    pub config_providers_env_allowlist_pattern: Option<String>,
    /// Folders a connector created through the REST API may name in a granted path (a file,
    /// a SQLite database, a local lake folder); relative to this file. Default: none (REST
    /// callers do not choose which of the worker's files a plugin reads or writes; connector
    /// files in connectors_dir may name any).
    #[serde(default)]
    pub grant_allowed_paths: Vec<PathBuf>,
    /// S3-compatible servers a connector's `s3.endpoint` may name, e.g.
    /// `["http://127.0.0.1:9000"]`. Default: none (AWS only): where requests signed with this
    /// worker's credentials go is the worker's to say, not a plugin's.
    #[serde(default)]
    pub store_s3_endpoints: Vec<String>,
    /// Profiles of `~/.aws/credentials` a connector's `aws.profile` may name. Default: none
    /// (`AWS_PROFILE`, else `default`).
    #[serde(default)]
    pub store_aws_profiles: Vec<String>,
    /// Hadoop client settings for every `hdfs://` location, e.g.
    /// `{ "dfs.ha.namenodes.ns1" = "nn1,nn2" }` (connectors set none). Default: none.
    #[serde(default)]
    pub store_hdfs_settings: std::collections::BTreeMap<String, String>,
    /// The topic of source offsets (Kafka Connect's `offset.storage.topic`). Default
    /// `connectd-offsets`. Workers of one group must agree; workers that share a Kafka
    /// cluster but not their connectors need names of their own.
    #[serde(default = "default_offset_storage_topic")]
    pub offset_storage_topic: String,
    /// The topic of connector and task status (`status.storage.topic`). Default
    /// `connectd-status`.
    #[serde(default = "default_status_storage_topic")]
    pub status_storage_topic: String,
    /// The topic of connector configs and target states (`config.storage.topic`). Default
    /// `connectd-configs`.
    #[serde(default = "default_config_storage_topic")]
    pub config_storage_topic: String,
}

fn default_task_wait_timeout_ms() -> u64 {
    60_000
}
fn default_offset_storage_topic() -> String {
    connectd_worker::InternalTopics::default().offsets
}
fn default_status_storage_topic() -> String {
    connectd_worker::InternalTopics::default().status
}
fn default_config_storage_topic() -> String {
    connectd_worker::InternalTopics::default().configs
}

fn default_task_memory_bytes() -> usize {
    256 << 20
}

fn default_task_call_timeout_ms() -> u64 {
    10_000
}

impl WorkerFile {
    /// Reads and validates a worker.toml, naming the file and the key on errors.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading worker config {}", path.display()))?;
        let raw: RawWorkerFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let mut broker = raw.broker;
        let mode =
            take_mode(&mut broker).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let broker: BrokerConfig = broker.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("{}: [broker]: {}", path.display(), e.to_string().trim_end())
        })?;
        let mut api = raw.api;
        if let Some(token) = &api.token
            && let Some(name) = token
                .strip_prefix("${env:")
                .and_then(|t| t.strip_suffix('}'))
        {
            api.token = Some(std::env::var(name).map_err(|_| {
                anyhow::anyhow!(
                    "{}: [api] token: environment variable {name} is not set",
                    path.display()
                )
            })?);
        }
        if api.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            anyhow::bail!(
                "{}: [api] token: empty; set a token, or remove the key to run without one",
                path.display()
            );
        }
        if let Some(advertised) = &mut api.advertised_listen {
            *advertised = expand_env(advertised).map_err(|name| {
                anyhow::anyhow!(
                    "{}: [api] advertised_listen: environment variable {name} is not set",
                    path.display()
                )
            })?;
        }
        let mut kafka = Vec::new();
        for (key, value) in raw.kafka {
            let Some(text) = connectd_worker::connectors::config::scalar_text(&value) else {
                anyhow::bail!(
                    "{}: [kafka] {key}: expected a string, number or boolean, got {value}",
                    path.display()
                );
            };
            kafka.push((key, text));
        }
        if !kafka.is_empty() && mode == BrokerMode::Embedded {
            anyhow::bail!(
                "{}: [kafka] properties are for [broker] mode = \"kafka\"; remove them, or set the mode",
                path.display()
            );
        }
        if let Some(cluster) = &raw.cluster {
            if cluster.group_id.trim().is_empty() {
                anyhow::bail!("{}: [cluster] group_id: must not be empty", path.display());
            }
            if cluster.heartbeat_interval_ms == 0
                || cluster.heartbeat_interval_ms * 2 >= cluster.session_timeout_ms
            {
                anyhow::bail!(
                    "{}: [cluster] heartbeat_interval_ms: {} must be above 0 and under half of session_timeout_ms ({})",
                    path.display(),
                    cluster.heartbeat_interval_ms,
                    cluster.session_timeout_ms
                );
            }
            // Group membership is spoken by connectd itself (librdkafka has no custom group
            // protocols): its TLS and SASL come from the same [kafka] properties.
            connectd_cluster::ClientSecurity::from_properties(&kafka)
                .map_err(|e| anyhow::anyhow!("{}: [cluster]: {e}", path.display()))?;
            if raw.worker.plugin_dir.is_none() {
                anyhow::bail!(
                    "{}: [cluster] shares connectors' tasks, so [worker] needs plugin_dir and connectors_dir",
                    path.display()
                );
            }
        }
        let mut broker = broker;
        if let Some(password) = broker.sasl.admin_password.take() {
            broker.sasl.admin_password = Some(resolve_secret(&password).map_err(|e| {
                anyhow::anyhow!("{}: [broker.sasl] admin_password: {e}", path.display())
            })?);
        }
        if broker
            .sasl
            .admin_password
            .as_deref()
            .is_some_and(str::is_empty)
        {
            anyhow::bail!(
                "{}: [broker.sasl] admin_password: empty; the admin user needs a password",
                path.display()
            );
        }
        let mut file = WorkerFile {
            worker: raw.worker,
            mode,
            broker,
            api,
            kafka,
            cluster: raw.cluster,
        };
        // Absolute from here on: a relative folder would be read against whatever directory
        // a check runs in, and `..` in it could not be worked out.
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(folder)
            .with_context(|| format!("{}: finding its folder", path.display()))?;
        let base = base.as_path();
        for dir in [
            Some(&mut file.worker.data_dir),
            file.worker.plugin_dir.as_mut(),
            file.worker.connectors_dir.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        let allowed = file
            .worker
            .config_providers_file_allowed_paths
            .get_or_insert_with(Vec::new);
        for dir in allowed
            .iter_mut()
            .chain(file.worker.grant_allowed_paths.iter_mut())
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        if file.api.tls_cert.is_some() != file.api.tls_key.is_some() {
            anyhow::bail!(
                "{}: [api] tls_cert and tls_key go together: give both for HTTPS, or neither",
                path.display()
            );
        }
        for p in [file.api.tls_cert.as_mut(), file.api.tls_key.as_mut()]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(ssl) = &mut file.broker.ssl {
            for p in [
                Some(&mut ssl.certificate),
                Some(&mut ssl.key),
                ssl.truststore.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        file.broker
            .listeners()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if file.worker.plugin_dir.is_some() != file.worker.connectors_dir.is_some() {
            anyhow::bail!(
                "{}: [worker] needs both plugin_dir and connectors_dir to run connectors (or neither)",
                path.display()
            );
        }
        Ok(file)
    }
}

/// A secret as worker.toml may give it: `${env:NAME}` (the variable), `${file:/path}` (the
/// file's first line), or the text itself.
fn resolve_secret(text: &str) -> std::result::Result<String, String> {
    if let Some(name) = text
        .strip_prefix("${env:")
        .and_then(|t| t.strip_suffix('}'))
    {
        return std::env::var(name).map_err(|_| format!("environment variable {name} is not set"));
    }
    if let Some(file) = text
        .strip_prefix("${file:")
        .and_then(|t| t.strip_suffix('}'))
    {
        let content = std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
        return Ok(content.lines().next().unwrap_or_default().to_string());
    }
    Ok(text.to_string())
}

/// `text` with every `${env:NAME}` replaced by the variable's value; the name of a variable
/// that is not set is the error.
fn expand_env(text: &str) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 6..start + len];
        out.push_str(&rest[..start]);
        out.push_str(&std::env::var(name).map_err(|_| name.to_string())?);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Takes `mode` and `bootstrap_servers` out of the `[broker]` table.
fn take_mode(broker: &mut toml::Table) -> std::result::Result<BrokerMode, String> {
    let text = |key: &str, v: toml::Value| match v {
        toml::Value::String(s) => Ok(s),
        other => Err(format!("[broker] {key}: expected a string, got {other}")),
    };
    let mode = broker.remove("mode").map(|v| text("mode", v)).transpose()?;
    let servers = broker
        .remove("bootstrap_servers")
        .map(|v| text("bootstrap_servers", v))
        .transpose()?;
    match (mode.as_deref().unwrap_or("embedded"), servers) {
        ("embedded", None) => Ok(BrokerMode::Embedded),
        ("embedded", Some(_)) => Err(
            "[broker] bootstrap_servers is only for mode = \"kafka\"; remove it, or set the mode"
                .into(),
        ),
        ("kafka", Some(bootstrap_servers)) => Ok(BrokerMode::Kafka { bootstrap_servers }),
        ("kafka", None) => {
            Err("[broker] mode = \"kafka\" needs bootstrap_servers = \"host:port,...\"".into())
        }
        (other, _) => Err(format!(
            "[broker] mode: expected \"embedded\" or \"kafka\", got {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        std::fs::write(
            &path,
            "[worker]\ndata_dir = \"d\"\n[broker]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n",
        )
        .unwrap();
        let err = WorkerFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("worker.toml") && err.contains("listen_port"),
            "{err}"
        );
    }

    #[test]
    fn mode_is_read_before_the_engine_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        let load = |broker: &str| {
            std::fs::write(
                &path,
                format!("[worker]\ndata_dir = \"d\"\n[broker]\n{broker}"),
            )
            .unwrap();
            WorkerFile::load(&path).map_err(|e| e.to_string())
        };
        let file = load("mode = \"embedded\"\nnum_partitions = 3\n").unwrap();
        assert_eq!(
            (file.mode, file.broker.num_partitions),
            (BrokerMode::Embedded, 3)
        );
        let err = load("mode = \"zookeeper\"\n").unwrap_err();
        assert!(
            err.contains("[broker] mode") && err.contains("zookeeper"),
            "{err}"
        );
        let err = load("mode = \"kafka\"\n").unwrap_err();
        assert!(err.contains("bootstrap_servers"), "{err}");
        let err = load("bootstrap_servers = \"k:9092\"\n").unwrap_err();
        assert!(err.contains("only for mode"), "{err}");
    }

    #[test]
    fn advertised_listen_reads_the_environment() {
        assert_eq!(
            expand_env("${env:PATH_NOT_SET_HERE_X}:1").unwrap_err(),
            "PATH_NOT_SET_HERE_X"
        );
        let home = std::env::var("HOME").unwrap();
        assert_eq!(
            expand_env("w-${env:HOME}:8083").unwrap(),
            format!("w-{home}:8083")
        );
        assert_eq!(expand_env("plain:1").unwrap(), "plain:1");
    }

    #[test]
    fn relative_data_dir_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        std::fs::write(&path, "[worker]\ndata_dir = \"d\"\n").unwrap();
        assert_eq!(
            WorkerFile::load(&path).unwrap().worker.data_dir,
            dir.path().join("d")
        );
    }
}
