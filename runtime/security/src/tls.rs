//! TLS configurations from PEM files, for rustls (with the aws-lc-rs provider the rest of the
//! binary's rustls uses).
//!
//! A server's certificate, key and trust store are read again when one of the files changes
//! (its modification time or size), checked at most once a second when a connection is
//! accepted: a renewed certificate takes effect for new connections without a restart. A
//! renewal that does not load (a key that does not match, a half-written file) is logged and
//! the previous configuration kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Error;

/// Kafka's `ssl.client.auth`: whether a TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for (the default).
    #[default]
    None,
    /// Asked for; a client without one connects as `User:ANONYMOUS`.
    Requested,
    /// Required: a client without a certificate the trust store signed is refused.
    Required,
}

/// A TLS listener's files.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    /// The certificate chain, PEM, the server's own first.
    pub certificate: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates, PEM, that sign client certificates; required unless `client_auth`
    /// is `None`.
    pub truststore: Option<PathBuf>,
    /// Whether client certificates are asked for.
    pub client_auth: ClientAuth,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The certificates of a PEM file; at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("malformed PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            path,
            "no certificate in it; expected PEM blocks \"-----BEGIN CERTIFICATE-----\"",
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        file_error(
            path,
            format!("no usable private key ({e}); expected a PEM \"PRIVATE KEY\" block (PKCS#8, PKCS#1 or SEC1)"),
        )
    })
}

fn roots(path: &Path) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for cert in read_certificates(path)? {
        store
            .add(cert)
            .map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// The server's provider: AES-128-GCM first. All of the default suites are secure; the
/// 128-bit key encrypts about a fifth faster than AES-256 (`openssl speed`, 16 KiB records)
/// and a broker encrypts every byte it serves.
fn server_provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| !format!("{:?}", s.suite()).contains("AES_128_GCM"));
    Arc::new(provider)
}

fn build_server(files: &ServerFiles) -> Result<ServerConfig, Error> {
    let certs = read_certificates(&files.certificate)?;
    let key = read_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(server_provider())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("the default provider supports the default versions");
    let builder = match (files.client_auth, &files.truststore) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(file_error(
                &files.certificate,
                "client_auth asks for client certificates, but no truststore names the CAs that sign them",
            ));
        }
        (auth, Some(truststore)) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(truststore)?),
                provider(),
            );
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| file_error(truststore, format!("cannot verify clients: {e}")))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| file_error(&files.key, format!("does not go with the certificate: {e}")))?;
    config.alpn_protocols.clear();
    // The server's order of suites, not the client's (OpenSSL asks for AES-256 first).
    config.ignore_client_order = true;
    Ok(config)
}

type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(files: &ServerFiles) -> Stamp {
    [
        Some(&files.certificate),
        Some(&files.key),
        files.truststore.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

/// How often a server checks its files for a renewal.
const RECHECK: Duration = Duration::from_secs(1);

/// A server's TLS configuration, reloaded when its files change.
pub struct ServerTls {
    files: ServerFiles,
    current: Mutex<Loaded>,
}

struct Loaded {
    stamp: Stamp,
    checked: Instant,
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// Loads the files; an error names the file and what is wrong with it.
    pub fn load(files: ServerFiles) -> Result<Self, Error> {
        let stamp = stamp(&files);
        let config = Arc::new(build_server(&files)?);
        Ok(ServerTls {
            files,
            current: Mutex::new(Loaded {
                stamp,
                checked: Instant::now(),
                config,
            }),
        })
    }

    /// The configuration for a new connection: the files as they are now, if they changed
    /// and load.
    pub fn config(&self) -> Arc<ServerConfig> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked.elapsed() >= RECHECK {
            current.checked = Instant::now();
            let now = stamp(&self.files);
            if now != current.stamp {
                current.stamp = now;
                match build_server(&self.files) {
                    Ok(config) => {
                        tracing::info!(certificate = %self.files.certificate.display(), "TLS certificate reloaded");
                        current.config = Arc::new(config);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS files changed but do not load; keeping the previous certificate")
                    }
                }
            }
        }
        current.config.clone()
    }
}

/// A client's TLS configuration: servers verified against `ca` (PEM), or against the
/// system's trust store when `ca` is `None`; a client certificate when `identity` (certificate
/// chain, key) is given.
pub fn client_config(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<ClientConfig, Error> {
    let roots = match ca {
        Some(ca) => roots(ca)?,
        None => {
            let mut store = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = store.add(cert);
            }
            store
        }
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("the default provider supports the default versions")
        .with_root_certificates(roots);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certificates(cert)?, read_key(key)?)
            .map_err(|e| file_error(key, format!("does not go with the certificate: {e}"))),
    }
}

/// Kafka's principal for a client certificate: `User:` and the subject's distinguished name
/// as RFC 2253 writes it, most specific first (`User:CN=alice,O=example` for openssl's
/// `-subj /O=example/CN=alice`), what Kafka's default `ssl.principal.mapping.rules` gives.
pub fn certificate_principal(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    Some(crate::user_principal(
        &cert.tbs_certificate.subject.to_string(),
    ))
}
