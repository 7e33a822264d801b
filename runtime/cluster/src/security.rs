//! How the group-membership client reaches a secured cluster: TLS (rustls) and SASL (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512), from the same librdkafka properties the worker's other
//! clients take (`[kafka]` in worker.toml).

use std::sync::Arc;

use connectd_security::scram::Mechanism;

use crate::Error;

/// A SASL mechanism the client logs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN: the password, in the clear inside the connection.
    Plain,
    /// SCRAM: a proof of the password.
    Scram(Mechanism),
}

impl SaslMechanism {
    /// The SASL name.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }
}

/// A SASL user and how it logs in.
#[derive(Clone)]
pub struct SaslLogin {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// TLS and SASL settings of a connection; the default is PLAINTEXT.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    /// TLS, when the protocol is SSL or SASL_SSL.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// SASL, when the protocol is SASL_PLAINTEXT or SASL_SSL.
    pub sasl: Option<SaslLogin>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

fn config_error(what: String) -> Error {
    Error::Config(format!("[kafka] {what}"))
}

impl ClientSecurity {
    /// From librdkafka properties: `security.protocol`, `sasl.mechanism` (or
    /// `sasl.mechanisms`), `sasl.username`, `sasl.password`, `ssl.ca.location`,
    /// `ssl.certificate.location`, `ssl.key.location`. Other properties are librdkafka's own
    /// and ignored here. Without `ssl.ca.location` servers are verified against the system's
    /// trust store, as librdkafka does.
    pub fn from_properties(properties: &[(String, String)]) -> Result<Self, Error> {
        let get = |k: &str| {
            properties
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let protocol = get("security.protocol")
            .unwrap_or("plaintext")
            .to_ascii_lowercase();
        let (tls, sasl) = match protocol.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            other => {
                return Err(config_error(format!(
                    "security.protocol = {other:?}: expected plaintext, ssl, sasl_plaintext or sasl_ssl"
                )));
            }
        };
        if get("ssl.endpoint.identification.algorithm")
            .is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Err(config_error(
                "ssl.endpoint.identification.algorithm = none: group membership always checks the broker's name against its certificate; give the broker a certificate with its name".into(),
            ));
        }
        let tls = if tls {
            let path = |k: &str| get(k).map(std::path::Path::new);
            let identity = match (path("ssl.certificate.location"), path("ssl.key.location")) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => {
                    return Err(config_error(
                        "ssl.certificate.location and ssl.key.location go together".into(),
                    ));
                }
            };
            let config = connectd_security::tls::client_config(path("ssl.ca.location"), identity)
                .map_err(|e| config_error(e.to_string()))?;
            Some(Arc::new(config))
        } else {
            None
        };
        let sasl = if sasl {
            let mechanism = get("sasl.mechanism")
                .or(get("sasl.mechanisms"))
                .unwrap_or("GSSAPI");
            let mechanism = match mechanism.to_ascii_uppercase().as_str() {
                "PLAIN" => SaslMechanism::Plain,
                m => SaslMechanism::Scram(Mechanism::from_name(m).ok_or_else(|| {
                    config_error(format!(
                        "sasl.mechanism = {mechanism:?}: group membership logs in with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                    ))
                })?),
            };
            let (Some(user), Some(password)) = (get("sasl.username"), get("sasl.password")) else {
                return Err(config_error(
                    "sasl.username and sasl.password are needed for SASL".into(),
                ));
            };
            Some(SaslLogin {
                mechanism,
                user: user.to_string(),
                password: password.to_string(),
            })
        } else {
            None
        };
        Ok(ClientSecurity { tls, sasl })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn properties_choose_tls_and_sasl() {
        let plain = ClientSecurity::from_properties(&[]).unwrap();
        assert!(plain.tls.is_none() && plain.sasl.is_none());
        let s = ClientSecurity::from_properties(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ]))
        .unwrap();
        assert_eq!(
            s.sasl.unwrap().mechanism,
            SaslMechanism::Scram(Mechanism::Sha512)
        );
        for bad in [
            props(&[("security.protocol", "kerberos")]),
            props(&[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "GSSAPI"),
            ]),
            props(&[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "PLAIN"),
            ]),
            props(&[
                ("security.protocol", "ssl"),
                ("ssl.ca.location", "/nonexistent/ca.pem"),
            ]),
        ] {
            let e = ClientSecurity::from_properties(&bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("[kafka]"), "{e}");
        }
    }
}
