//! What connectd's Kafka listener and its Kafka clients share for security: SASL's SCRAM
//! (both sides) and PLAIN, TLS configurations from PEM files (reloaded when the files
//! change), and principals as Kafka names them (`User:alice`).
//!
//! Nothing here touches a socket: the broker's server and the group-membership client drive
//! the exchanges over their own connections.

pub mod plain;
pub mod scram;
pub mod tls;

use std::path::PathBuf;

/// Kafka's principal of a client no listener authenticated.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Errors from security exchanges and files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A SASL message did not follow its mechanism.
    #[error("malformed SASL message: {0}")]
    Exchange(String),
    /// The password (or proof) did not match the stored credential, or the user is unknown.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A credential could not be made.
    #[error("{0}")]
    Credential(String),
    /// A certificate, key or trust store file could not be used.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        reason: String,
    },
}

/// `User:<name>`, the principal Kafka gives a user SASL authenticated.
pub fn user_principal(name: &str) -> String {
    format!("User:{name}")
}
