//! Kafka's listeners: a name, a security protocol and an address each (`listeners`,
//! `advertised.listeners`, `listener.security.protocol.map`), read from `[broker]` once and
//! checked before anything binds.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::BrokerConfig;
use crate::{Error, Result};

/// Kafka's `security.protocol` of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityProtocol {
    /// No TLS, no authentication: every client is `User:ANONYMOUS`.
    Plaintext,
    /// TLS; with client certificates, the certificate's subject is the principal.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name (`SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// Whether connections are TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether clients must authenticate with SASL before any other request.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One listener as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Its name (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// Where it binds.
    pub addr: SocketAddr,
    /// `host:port` clients are told, when `advertised_listeners` names it.
    pub advertised: Option<(String, i32)>,
}

/// A listener once bound.
#[derive(Debug, Clone)]
pub struct Bound {
    /// Its name.
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// The address it is bound to (a free port taken for port 0).
    pub addr: SocketAddr,
    /// What its clients are told in Metadata and FindCoordinator.
    pub advertised: (String, i32),
}

fn config_error(key: &str, reason: String) -> Error {
    Error::Metadata {
        path: PathBuf::from(format!("worker.toml [broker] {key}")),
        reason,
    }
}

/// `NAME://host:port` into its name, host and port.
fn split(key: &str, entry: &str) -> Result<(String, String, u16)> {
    let bad = || {
        config_error(
            key,
            format!("expected NAME://host:port (e.g. \"SASL_SSL://0.0.0.0:9094\"), got {entry:?}"),
        )
    };
    let (name, rest) = entry.split_once("://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((name.to_ascii_uppercase(), host.to_string(), port))
}

impl BrokerConfig {
    /// The listeners to bind: `listeners`, or the one PLAINTEXT `listen`. Errors name the key
    /// and what was expected.
    pub fn listeners(&self) -> Result<Vec<Listener>> {
        if self.listen.is_some() && !self.listeners.is_empty() {
            return Err(config_error(
                "listen",
                "give either listen (one PLAINTEXT listener) or listeners, not both".into(),
            ));
        }
        if self.listeners.is_empty() {
            let advertised = match &self.advertised_listener {
                Some(a) => Some(parse_host_port(a)?),
                None => None,
            };
            if !self.advertised_listeners.is_empty() {
                return Err(config_error(
                    "advertised_listeners",
                    "goes with listeners; with listen, use advertised_listener".into(),
                ));
            }
            return Ok(vec![Listener {
                name: "PLAINTEXT".into(),
                protocol: SecurityProtocol::Plaintext,
                addr: self.listen.unwrap_or_else(crate::config::default_listen),
                advertised,
            }]);
        }
        if self.advertised_listener.is_some() {
            return Err(config_error(
                "advertised_listener",
                "goes with listen; with listeners, use advertised_listeners".into(),
            ));
        }
        let mut out: Vec<Listener> = Vec::new();
        for entry in &self.listeners {
            let (name, host, port) = split("listeners", entry)?;
            let protocol = match self.listener_security_protocol_map.get(&name) {
                Some(p) => *p,
                None => SecurityProtocol::from_name(&name).ok_or_else(|| {
                    config_error(
                        "listeners",
                        format!("listener {name} is not a security protocol name (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL); map it in listener_security_protocol_map"),
                    )
                })?,
            };
            let host = if host.is_empty() { "0.0.0.0" } else { &host };
            let addr = (host, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| {
                    config_error("listeners", format!("{entry:?}: {host} does not resolve"))
                })?;
            if out.iter().any(|l| l.name == name) {
                return Err(config_error(
                    "listeners",
                    format!("listener name {name} is used twice"),
                ));
            }
            if protocol.tls() && self.ssl.is_none() {
                return Err(config_error(
                    "listeners",
                    format!(
                        "listener {name} is {}: add [broker.ssl] certificate and key",
                        protocol.name()
                    ),
                ));
            }
            out.push(Listener {
                name,
                protocol,
                addr,
                advertised: None,
            });
        }
        for entry in &self.advertised_listeners {
            let (name, host, port) = split("advertised_listeners", entry)?;
            let listener = out.iter_mut().find(|l| l.name == name).ok_or_else(|| {
                config_error(
                    "advertised_listeners",
                    format!("{entry:?} names no listener in listeners"),
                )
            })?;
            listener.advertised = Some((host, i32::from(port)));
        }
        if let Some(name) = &self.worker_listener
            && !out.iter().any(|l| l.name.eq_ignore_ascii_case(name))
        {
            return Err(config_error(
                "worker_listener",
                format!("{name:?} names no listener in listeners"),
            ));
        }
        if out.iter().any(|l| l.protocol.sasl()) {
            for m in &self.sasl.enabled_mechanisms {
                if m != "PLAIN" && connectd_security::scram::Mechanism::from_name(m).is_none() {
                    return Err(config_error(
                        "sasl.enabled_mechanisms",
                        format!(
                            "{m:?} is not supported; use SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Whether the listener at `index` of `listeners`, named `name`, is the one this
    /// process's worker joins its group through: `worker_listener`, or else the first.
    pub fn is_worker_listener(&self, index: usize, name: &str) -> bool {
        match &self.worker_listener {
            Some(worker) => name.eq_ignore_ascii_case(worker),
            None => index == 0,
        }
    }

    /// Whether any listener authenticates its clients (SASL, or TLS with client
    /// certificates).
    pub fn authenticates(&self) -> bool {
        let mtls = self
            .ssl
            .as_ref()
            .is_some_and(|s| s.client_auth != connectd_security::tls::ClientAuth::None);
        self.listeners().is_ok_and(|ls| {
            ls.iter()
                .any(|l| l.protocol.sasl() || (l.protocol.tls() && mtls))
        })
    }
}

/// `host:port` into its parts.
pub(crate) fn parse_host_port(s: &str) -> Result<(String, i32)> {
    let bad = || {
        config_error(
            "advertised_listener",
            format!("expected host:port, got {s:?}"),
        )
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok((host.to_string(), i32::from(port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> BrokerConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn listeners_parse_with_names_protocols_and_advertised_addresses() {
        let c = config(
            r#"
            listeners = ["PLAINTEXT://127.0.0.1:0", "INTERNAL://:9094"]
            advertised_listeners = ["INTERNAL://kafka.example.com:19094"]
            listener_security_protocol_map = { INTERNAL = "SASL_PLAINTEXT" }
            "#,
        );
        let ls = c.listeners().unwrap();
        assert_eq!(ls[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(ls[1].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(ls[1].addr.port(), 9094);
        assert_eq!(ls[1].advertised, Some(("kafka.example.com".into(), 19094)));
        assert!(c.authenticates());
        assert!(!BrokerConfig::default().authenticates());
    }

    #[test]
    fn bad_listeners_are_refused_naming_the_key() {
        for (text, key) in [
            (r#"listeners = ["127.0.0.1:9092"]"#, "listeners"),
            (r#"listeners = ["WHATEVER://127.0.0.1:9092"]"#, "listeners"),
            (r#"listeners = ["SSL://127.0.0.1:9092"]"#, "listeners"),
            (
                r#"listeners = ["PLAINTEXT://127.0.0.1:1", "PLAINTEXT://127.0.0.1:2"]"#,
                "listeners",
            ),
            (
                "listen = \"127.0.0.1:1\"\nlisteners = [\"PLAINTEXT://127.0.0.1:2\"]",
                "listen",
            ),
            (
                "listeners = [\"PLAINTEXT://127.0.0.1:2\"]\nadvertised_listeners = [\"SSL://h:1\"]",
                "advertised_listeners",
            ),
            (
                "listeners = [\"SASL_PLAINTEXT://127.0.0.1:2\"]\nsasl = { enabled_mechanisms = [\"GSSAPI\"] }",
                "sasl.enabled_mechanisms",
            ),
        ] {
            let e = config(text).listeners().unwrap_err().to_string();
            assert!(e.contains(&format!("[broker] {key}")), "{text}: {e}");
        }
    }
}
