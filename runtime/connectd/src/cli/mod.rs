//! The everyday Kafka commands, built on librdkafka (the `rdkafka` crate) so they work against
//! any Kafka-compatible bootstrap server, connectd's own included.

pub mod connectors;
pub mod consume;
pub mod groups;
pub mod keys;
pub mod perf;
pub mod produce;
pub mod topics;
pub mod users;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use rdkafka::ClientConfig;

/// How long admin and metadata calls wait for the broker.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options shared by every command.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Kafka bootstrap servers, host:port[,host:port].
    #[arg(
        long = "bootstrap-server",
        short = 'b',
        default_value = "127.0.0.1:9092",
        env = "CONNECTD_BOOTSTRAP",
        global = true
    )]
    pub bootstrap: String,
    /// Extra librdkafka client properties, key=value (repeatable).
    #[arg(long = "property", short = 'X', value_parser = parse_key_value, global = true)]
    pub properties: Vec<(String, String)>,
}

impl Connection {
    /// A librdkafka config for these servers.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_with(&[])
    }

    /// A librdkafka config for these servers with a command's own `defaults`, which the
    /// user's `-X` properties override.
    pub fn client_config_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c.set("client.id", "connectd-cli");
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// Parses `key=value`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

/// Reads topic metadata, with a hint when the broker is not reachable.
pub fn metadata<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: Option<&str>,
    bootstrap: &str,
) -> Result<rdkafka::metadata::Metadata> {
    client.fetch_metadata(topic, TIMEOUT).with_context(|| format!("reading metadata from {bootstrap}; is a broker running there? (start one with `connectd --config worker.toml`)"))
}
