//! Who a client is and what it may do: SASL authentication of a connection ([`Session`]),
//! users' SCRAM credentials ([`credentials`]) and ACLs ([`acls`]).
//!
//! A connection's principal is `User:ANONYMOUS` on a PLAINTEXT or SSL listener, the client
//! certificate's subject on an SSL listener that asks for one, and the SASL user on a SASL
//! listener. On a SASL listener nothing but ApiVersions, SaslHandshake and SaslAuthenticate
//! is served until the client has authenticated; anything else closes the connection, as
//! Kafka's authenticator does. A failed authentication is answered at once and the
//! connection closed [`FAILED_AUTHENTICATION_DELAY`] later (Kafka's
//! `connection.failed.authentication.delay.ms`): closing with the answer would lose it to
//! clients that drop data read together with the close (kafka-python 3.0 does).

pub mod acls;
pub mod credentials;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use connectd_security::plain::PlainMessage;
use connectd_security::scram::{self, ClientFirst, Mechanism, ServerExchange};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};

use crate::handlers::str;

/// How long a connection stays open after a failed authentication's answer: a password
/// guesser gets one try per this long per connection.
pub const FAILED_AUTHENTICATION_DELAY: Duration = Duration::from_millis(100);

/// The broker's security state: credentials, ACLs, and what its SASL listeners accept.
pub struct Security {
    /// Users' SCRAM credentials.
    pub credentials: credentials::Credentials,
    /// ACLs and the authorizer.
    pub acls: acls::Acls,
    /// `sasl.enabled.mechanisms`.
    pub mechanisms: Vec<String>,
}

/// A SASL mechanism in use on one connection.
#[derive(Debug, Clone, Copy)]
enum Chosen {
    Plain,
    Scram(Mechanism),
}

enum SaslState {
    /// This listener does not do SASL.
    Off,
    /// Waiting for SaslHandshake.
    Start,
    /// Handshake done, waiting for the first SaslAuthenticate.
    Chosen(Chosen),
    /// SCRAM's first round done.
    ScramFirst(Box<ServerExchange>),
    /// Authenticated.
    Done,
}

/// One connection's authentication.
pub(crate) struct Session {
    principal: Arc<str>,
    sasl: SaslState,
}

/// What a SASL request does to the connection.
pub(crate) enum Outcome {
    /// Answer and go on.
    Continue,
    /// Answer after the failed-authentication delay, then close.
    Fail,
}

impl Session {
    /// A new connection: `principal` is what TLS established (`User:ANONYMOUS` without a
    /// client certificate); `sasl` when the listener authenticates with SASL.
    pub(crate) fn new(principal: String, sasl: bool) -> Self {
        Session {
            principal: principal.into(),
            sasl: if sasl {
                SaslState::Start
            } else {
                SaslState::Off
            },
        }
    }

    /// The client's principal (after SASL, the user's).
    pub(crate) fn principal(&self) -> Arc<str> {
        self.principal.clone()
    }

    /// Whether the client has authenticated (or needs not).
    pub(crate) fn authenticated(&self) -> bool {
        matches!(self.sasl, SaslState::Off | SaslState::Done)
    }

    /// Whether a request of `key` may be served now.
    pub(crate) fn admits(&self, key: ApiKey) -> bool {
        matches!(self.sasl, SaslState::Off | SaslState::Done)
            || matches!(
                key,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            )
    }

    /// SaslHandshake: picks the mechanism.
    pub(crate) fn handshake(
        &mut self,
        security: Option<&Security>,
        req: &SaslHandshakeRequest,
    ) -> (SaslHandshakeResponse, Outcome) {
        let enabled: Vec<String> = match (&self.sasl, security) {
            (SaslState::Off, _) | (_, None) => Vec::new(),
            (_, Some(s)) => s.mechanisms.clone(),
        };
        let response = SaslHandshakeResponse::default()
            .with_mechanisms(enabled.iter().map(|m| str(m.clone())).collect());
        if !matches!(self.sasl, SaslState::Start) {
            return (
                response.with_error_code(ResponseError::IllegalSaslState.code()),
                Outcome::Fail,
            );
        }
        let wanted = req.mechanism.as_str();
        let chosen = match wanted {
            "PLAIN" => Some(Chosen::Plain),
            other => Mechanism::from_name(other).map(Chosen::Scram),
        };
        match chosen {
            Some(chosen) if enabled.iter().any(|m| m == wanted) => {
                self.sasl = SaslState::Chosen(chosen);
                (response, Outcome::Continue)
            }
            _ => (
                response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
                Outcome::Fail,
            ),
        }
    }

    /// SaslAuthenticate: one round of the chosen mechanism.
    pub(crate) fn authenticate(
        &mut self,
        security: Option<&Security>,
        req: &SaslAuthenticateRequest,
    ) -> (SaslAuthenticateResponse, Outcome) {
        let state = std::mem::replace(&mut self.sasl, SaslState::Done);
        let failed = |code: ResponseError, message: String| {
            (
                SaslAuthenticateResponse::default()
                    .with_error_code(code.code())
                    .with_error_message(Some(str(message))),
                Outcome::Fail,
            )
        };
        let Some(security) = security else {
            return failed(
                ResponseError::IllegalSaslState,
                "SASL is not enabled".into(),
            );
        };
        let invalid = |m: &str| {
            failed(
                ResponseError::SaslAuthenticationFailed,
                format!(
                    "Authentication failed during authentication due to invalid credentials with SASL mechanism {m}"
                ),
            )
        };
        let ok = |bytes: Vec<u8>| {
            (
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(bytes)),
                Outcome::Continue,
            )
        };
        match state {
            SaslState::Chosen(Chosen::Plain) => {
                let message = match PlainMessage::parse(&req.auth_bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        return failed(ResponseError::SaslAuthenticationFailed, e.to_string());
                    }
                };
                let verified = plain_verifies(security, &message.user, &message.password);
                if !verified {
                    return invalid("PLAIN");
                }
                self.principal = connectd_security::user_principal(&message.user).into();
                ok(Vec::new())
            }
            SaslState::Chosen(Chosen::Scram(m)) => {
                let first = match ClientFirst::parse(&req.auth_bytes) {
                    Ok(f) => f,
                    Err(e) => {
                        return failed(ResponseError::SaslAuthenticationFailed, e.to_string());
                    }
                };
                let Some(credential) = security.credentials.get(&first.user, m) else {
                    return invalid(m.name());
                };
                let (exchange, reply) = first.respond(m, credential);
                self.sasl = SaslState::ScramFirst(Box::new(exchange));
                ok(reply)
            }
            SaslState::ScramFirst(exchange) => {
                let m = exchange.mechanism();
                match exchange.finish(&req.auth_bytes) {
                    Ok((user, reply)) => {
                        self.principal = connectd_security::user_principal(&user).into();
                        ok(reply)
                    }
                    Err(scram_error) => {
                        tracing::debug!(error = %scram_error, "SCRAM authentication failed");
                        invalid(m.name())
                    }
                }
            }
            SaslState::Off | SaslState::Start | SaslState::Done => failed(
                ResponseError::IllegalSaslState,
                "SaslAuthenticate before SaslHandshake, or after authentication".into(),
            ),
        }
    }
}

/// The value stored in the JSON file `path`, or the default when there is none yet; `what`
/// names the file's kind in errors.
fn read_json_file<T: serde::de::DeserializeOwned + Default>(
    path: &std::path::Path,
    what: &str,
) -> crate::Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| crate::Error::Metadata {
            path: path.to_path_buf(),
            reason: format!("not {what}: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(crate::Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Runs CPU-heavy `f` so that the tokio worker's other tasks move to other threads
/// meanwhile (on a multi-thread runtime; elsewhere, in place).
/// Checks a PLAIN password against the user's stored SCRAM credential: one PBKDF2 of
/// thousands of rounds, against the strongest mechanism the user has. An unknown user costs
/// the same (a derivation against a stand-in credential), so the time of an answer does not
/// tell which users exist; and one check runs at a time, so strangers guessing passwords on
/// many connections hold at most one core, not every one.
fn plain_verifies(security: &Security, user: &str, password: &str) -> bool {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    static STAND_IN: std::sync::OnceLock<scram::Credential> = std::sync::OnceLock::new();
    let stored = Mechanism::ALL
        .iter()
        .rev()
        .find_map(|&m| security.credentials.get(user, m).map(|c| (m, c)));
    // PBKDF2: off the async worker's other tasks.
    cpu_heavy(|| {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        match stored {
            Some((m, credential)) => credential.verifies(m, password),
            None => {
                let stand_in = STAND_IN.get_or_init(|| {
                    scram::Credential::new(Mechanism::Sha512, "", scram::DEFAULT_ITERATIONS)
                        .expect("the default iteration count is in bounds")
                });
                let _ = stand_in.verifies(Mechanism::Sha512, password);
                false
            }
        }
    })
}

fn cpu_heavy<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Checks a KIP-554 iteration count, for AlterUserScramCredentials.
pub(crate) fn acceptable_iterations(iterations: i32) -> bool {
    u32::try_from(iterations).is_ok_and(|i| scram::check_iterations(i).is_ok())
}
