//! The broker engine's settings: the `[broker]` section of worker.toml, less the keys that
//! choose between this engine and a Kafka cluster (the binary reads those).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

/// Broker settings. Every field has a default, so an empty `[broker]` section is valid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// Address the Kafka listener binds. Default `127.0.0.1:9092`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `host:port` given to clients in Metadata; defaults to the bound address.
    #[serde(default)]
    pub advertised_listener: Option<String>,
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
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
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

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9092))
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
            listen: default_listen(),
            advertised_listener: None,
            node_id: 0,
            auto_create_topics_enable: true,
            num_partitions: default_partitions(),
            socket_request_max_bytes: default_request_max_bytes(),
            max_connections: default_max_connections(),
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
