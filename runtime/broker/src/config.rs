//! The broker engine's settings: the `[broker]` section of worker.toml, less the keys that
//! choose between this engine and a Kafka cluster (the binary reads those).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

/// Broker settings. Every field has a default, so an empty `[broker]` section is valid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// Address of a single PLAINTEXT Kafka listener. Default `127.0.0.1:9092` when
    /// `listeners` is empty; give one or the other.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// `host:port` given to clients of `listen` in Metadata; defaults to the bound address.
    /// With `listeners`, use `advertised_listeners`.
    #[serde(default)]
    pub advertised_listener: Option<String>,
    /// Kafka's `listeners`: `NAME://host:port` each, e.g. `["PLAINTEXT://127.0.0.1:9092",
    /// "SASL_SSL://0.0.0.0:9094"]`. A name is its security protocol (PLAINTEXT, SSL,
    /// SASL_PLAINTEXT, SASL_SSL) unless `listener_security_protocol_map` maps it; port 0
    /// takes a free port.
    #[serde(default)]
    pub listeners: Vec<String>,
    /// Kafka's `advertised.listeners`: `NAME://host:port` for the listeners whose clients
    /// must be told another address than the bound one (behind NAT, in containers).
    #[serde(default)]
    pub advertised_listeners: Vec<String>,
    /// Kafka's `listener.security.protocol.map`, for listener names that are not protocol
    /// names: `{ INTERNAL = "SASL_SSL" }`.
    #[serde(default)]
    pub listener_security_protocol_map: BTreeMap<String, crate::listeners::SecurityProtocol>,
    /// The listener this worker's own group membership (`[cluster]`) connects through, by
    /// name. Default: the first. When it authenticates, the worker logs in as
    /// `[broker.sasl] admin_user`.
    #[serde(default)]
    pub worker_listener: Option<String>,
    /// TLS for the SSL and SASL_SSL listeners.
    #[serde(default)]
    pub ssl: Option<SslConfig>,
    /// SASL for the SASL_PLAINTEXT and SASL_SSL listeners.
    #[serde(default)]
    pub sasl: SaslConfig,
    /// Kafka's `super.users`: principals (`User:alice`) every ACL check allows. The
    /// `[broker.sasl] admin_user` is one without being listed.
    #[serde(default)]
    pub super_users: Vec<String>,
    /// Kafka's `allow.everyone.if.no.acl.found`: whether a resource no ACL names is open to
    /// everyone. Default: true while no listener authenticates (a PLAINTEXT-only broker
    /// behaves as Kafka without an authorizer), false once one does.
    #[serde(default)]
    pub allow_everyone_if_no_acl_found: Option<bool>,
    /// This broker's node id (Kafka's `node.id`). Default 0.
    #[serde(default)]
    pub node_id: i32,
    /// Kafka's `auto.create.topics.enable`: a Metadata or Produce for an unknown topic creates
    /// it. Default true.
    #[serde(default = "default_true")]
    pub auto_create_topics_enable: bool,
    /// Kafka's `num.partitions`: partitions of an auto-created topic, and of CreateTopics
    /// asking for the default (-1). Default 1.
    #[serde(default = "default_partitions")]
    pub num_partitions: i32,
    /// Kafka's `socket.request.max.bytes`: larger frames close the connection. Default 100 MiB.
    #[serde(default = "default_request_max_bytes")]
    pub socket_request_max_bytes: usize,
    /// Kafka's `max.connections`: connections beyond this are closed at accept. Default 1000.
    /// With several listeners, `worker_listener` has this many of its own, apart from the
    /// others' (Kafka never refuses its inter-broker listener).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Kafka's `max.connections.per.ip`: connections one address may hold open; more are
    /// closed at accept. Default: no limit besides `max_connections`, as Kafka.
    #[serde(default)]
    pub max_connections_per_ip: Option<usize>,
    /// Kafka's `connections.max.idle.ms`: a connection with no request in flight that sends
    /// nothing for this long is closed. Default 600000 (10 minutes).
    #[serde(default = "default_connections_max_idle_ms")]
    pub connections_max_idle_ms: u64,
    /// Kafka's `queued.max.request.bytes`: the most bytes of requests, over all connections,
    /// read but not yet answered. A connection whose next frame does not fit waits (its client
    /// sees backpressure) until answers go out. One connection may hold a sixteenth of it, so
    /// a few clients that send and never read stall only themselves. Kafka's default is
    /// unbounded; ours is 256 MiB. A frame larger than a share takes all of it.
    #[serde(default = "default_queued_max_request_bytes")]
    pub queued_max_request_bytes: usize,
    /// Kafka's `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty
    /// group waits for more members. Default 3000.
    #[serde(default = "default_initial_rebalance_delay_ms")]
    pub group_initial_rebalance_delay_ms: u64,
    /// Kafka's `log.cleaner.backoff.ms`: how often compacted topics are checked for a
    /// compaction pass. Default 15000.
    #[serde(default = "default_log_cleaner_backoff_ms")]
    pub log_cleaner_backoff_ms: u64,
    /// Kafka's `log.retention.check.interval.ms`. Default 300000 (5 minutes).
    #[serde(default = "default_retention_check_ms")]
    pub log_retention_check_interval_ms: u64,
    /// Who may use the worker's internal topics (configs, offsets, status), its Connect group
    /// and its sinks' `connect-<name>` groups through this port. Absent (the default): any
    /// client, as Kafka without an authorizer. A list of IP addresses: this process's own
    /// connections and clients from these addresses (peer workers); `[]` is this process
    /// alone. Anyone else gets TOPIC_AUTHORIZATION_FAILED or GROUP_AUTHORIZATION_FAILED and
    /// does not see them in listings.
    #[serde(default)]
    pub internal_allowed_clients: Option<Vec<std::net::IpAddr>>,
    /// Broker-wide defaults for topic configs, under the topic-config names, e.g.
    /// `{ "flush.messages" = "10000" }` for Kafka's page-cache durability everywhere.
    #[serde(default)]
    pub topic_defaults: BTreeMap<String, String>,
}

/// The listener of a `[broker]` section that names none.
pub(crate) fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9092))
}

/// `[broker.ssl]`: the certificate and key of the SSL and SASL_SSL listeners (PEM files,
/// read again when they change), and whether clients must show certificates (mTLS).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslConfig {
    /// The certificate chain, PEM, the broker's own first (Kafka's
    /// `ssl.keystore.certificate.chain`).
    pub certificate: std::path::PathBuf,
    /// Its private key, PEM (Kafka's `ssl.keystore.key`).
    pub key: std::path::PathBuf,
    /// CA certificates, PEM, that sign client certificates (Kafka's
    /// `ssl.truststore.certificates`); needed when `client_auth` is not `none`.
    #[serde(default)]
    pub truststore: Option<std::path::PathBuf>,
    /// Kafka's `ssl.client.auth`: `none` (default), `requested` or `required`. A client's
    /// principal is its certificate's subject, `User:CN=...,O=...`, unless SASL names it.
    #[serde(default)]
    pub client_auth: connectd_security::tls::ClientAuth,
}

/// `[broker.sasl]`: how SASL listeners authenticate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// Kafka's `sasl.enabled.mechanisms`: any of `SCRAM-SHA-512`, `SCRAM-SHA-256`, `PLAIN`.
    /// Default: all three. PLAIN passwords are checked against the stored SCRAM credentials,
    /// so no password is stored in the clear; over SASL_PLAINTEXT PLAIN sends the password
    /// unencrypted, as in Kafka.
    #[serde(default = "default_mechanisms")]
    pub enabled_mechanisms: Vec<String>,
    /// A user created (or whose password is set again) at start, with SCRAM-SHA-256 and
    /// SCRAM-SHA-512 credentials: a super user, the principal of this worker's own
    /// connections and the only one (with the super users) that may use the worker's internal
    /// topics and groups. Other users are managed with `connectd users`.
    #[serde(default)]
    pub admin_user: Option<String>,
    /// Its password; `${env:NAME}` or `${file:/path}` (the file's first line) keeps it out
    /// of worker.toml.
    #[serde(default)]
    pub admin_password: Option<String>,
}

fn default_mechanisms() -> Vec<String> {
    ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
        .map(String::from)
        .to_vec()
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            enabled_mechanisms: default_mechanisms(),
            admin_user: None,
            admin_password: None,
        }
    }
}
fn default_true() -> bool {
    true
}
fn default_partitions() -> i32 {
    1
}
fn default_request_max_bytes() -> usize {
    100 * 1024 * 1024
}
fn default_max_connections() -> usize {
    1000
}
fn default_connections_max_idle_ms() -> u64 {
    600_000
}
fn default_queued_max_request_bytes() -> usize {
    256 * 1024 * 1024
}
fn default_initial_rebalance_delay_ms() -> u64 {
    3000
}
fn default_log_cleaner_backoff_ms() -> u64 {
    15_000
}
fn default_retention_check_ms() -> u64 {
    300_000
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: None,
            advertised_listener: None,
            listeners: Vec::new(),
            advertised_listeners: Vec::new(),
            listener_security_protocol_map: BTreeMap::new(),
            worker_listener: None,
            ssl: None,
            sasl: SaslConfig::default(),
            super_users: Vec::new(),
            allow_everyone_if_no_acl_found: None,
            node_id: 0,
            auto_create_topics_enable: true,
            num_partitions: default_partitions(),
            socket_request_max_bytes: default_request_max_bytes(),
            max_connections: default_max_connections(),
            max_connections_per_ip: None,
            connections_max_idle_ms: default_connections_max_idle_ms(),
            queued_max_request_bytes: default_queued_max_request_bytes(),
            group_initial_rebalance_delay_ms: default_initial_rebalance_delay_ms(),
            log_retention_check_interval_ms: default_retention_check_ms(),
            log_cleaner_backoff_ms: default_log_cleaner_backoff_ms(),
            internal_allowed_clients: None,
            topic_defaults: BTreeMap::new(),
        }
    }
}
