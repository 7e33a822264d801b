//! A blocking connection to one Kafka broker that sends one request at a time: just what
//! group membership needs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and
//! the user admin of the CLI, encoded and decoded by `kafka-protocol`. Over TLS (rustls) and
//! logged in with SASL when [`ClientSecurity`] says so.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use connectd_security::plain::PlainMessage;
use connectd_security::scram::ClientExchange;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use rustls::pki_types::ServerName;

use crate::Error;
use crate::security::{ClientSecurity, SaslMechanism};

/// A socket, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Largest response accepted (a JoinGroup answer to the leader carries every member's
/// metadata; 64 MiB is far beyond any real group).
const MAX_RESPONSE: usize = 64 << 20;

/// The local addresses of this process's open broker connections: a broker in this process
/// trusts them where it reserves names for the worker (`[broker] internal_allowed_clients`).
/// A connection's address is listed from before its first request until it is dropped, so an
/// address a closed connection leaves behind is never trusted for someone else.
static OPEN: LazyLock<Mutex<HashSet<SocketAddr>>> = LazyLock::new(Default::default);

/// Whether `peer` (as a broker in this process sees it) is one of this process's own open
/// group-membership connections.
pub fn is_own_connection(peer: SocketAddr) -> bool {
    OPEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&peer)
}

/// One broker connection.
pub struct Connection {
    stream: Stream,
    /// Our end, as listed in [`OPEN`].
    local: Option<SocketAddr>,
    /// `host:port`, for errors.
    pub addr: String,
    client_id: String,
    correlation: i32,
}

impl Connection {
    /// Connects to `addr` (`host:port`) within `timeout`, then finishes TLS and logs in with
    /// SASL as `security` says.
    pub fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<Self, Error> {
        let io = |source| Error::Io {
            addr: addr.to_string(),
            source,
        };
        let mut last = None;
        for sa in addr.to_socket_addrs().map_err(io)? {
            match TcpStream::connect_timeout(&sa, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(io)?;
                    let local = stream.local_addr().ok();
                    let stream = match &security.tls {
                        None => Stream::Plain(stream),
                        Some(config) => {
                            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                            let host = host.trim_start_matches('[').trim_end_matches(']');
                            let name = ServerName::try_from(host.to_string()).map_err(|e| {
                                Error::Protocol {
                                    addr: addr.to_string(),
                                    what: format!("not a TLS server name: {e}"),
                                }
                            })?;
                            let tls = rustls::ClientConnection::new(config.clone(), name).map_err(
                                |e| Error::Protocol {
                                    addr: addr.to_string(),
                                    what: format!("TLS: {e}"),
                                },
                            )?;
                            Stream::Tls(Box::new(rustls::StreamOwned::new(tls, stream)))
                        }
                    };
                    if let Some(local) = local {
                        OPEN.lock().unwrap_or_else(|e| e.into_inner()).insert(local);
                    }
                    let mut conn = Connection {
                        stream,
                        local,
                        addr: addr.to_string(),
                        client_id: client_id.to_string(),
                        correlation: 0,
                    };
                    if let Some(login) = &security.sasl {
                        conn.login(login, timeout)?;
                    }
                    return Ok(conn);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(io(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "resolves to no address")
        })))
    }

    /// SaslHandshake and SaslAuthenticate (KIP-152) with `login`'s mechanism.
    fn login(
        &mut self,
        login: &crate::security::SaslLogin,
        timeout: Duration,
    ) -> Result<(), Error> {
        let refused = |addr: &str, what: String| Error::Protocol {
            addr: addr.to_string(),
            what: format!(
                "SASL {} login as {}: {what}",
                login.mechanism.name(),
                login.user
            ),
        };
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(login.mechanism.name()));
        let resp = self.send(&handshake, 1, timeout)?;
        if resp.error_code != 0 {
            let offered: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(refused(
                &self.addr,
                format!("the broker offers {offered:?} (error {})", resp.error_code),
            ));
        }
        let round = |conn: &mut Self, bytes: Vec<u8>| -> Result<bytes::Bytes, Error> {
            let req = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
            let resp = conn.send(&req, 1, timeout)?;
            if resp.error_code != 0 {
                let message = resp.error_message.as_ref().map(|m| m.to_string());
                return Err(refused(
                    &conn.addr,
                    message.unwrap_or_else(|| format!("error {}", resp.error_code)),
                ));
            }
            Ok(resp.auth_bytes)
        };
        match login.mechanism {
            SaslMechanism::Plain => {
                round(self, PlainMessage::encode(&login.user, &login.password))?;
            }
            SaslMechanism::Scram(m) => {
                let mut exchange = ClientExchange::new(m, &login.user, &login.password);
                let server_first = round(self, exchange.first())?;
                let client_final = exchange
                    .respond(&server_first)
                    .map_err(|e| refused(&self.addr, e.to_string()))?;
                let server_final = round(self, client_final)?;
                exchange
                    .verify(&server_final)
                    .map_err(|e| refused(&self.addr, e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Sends `request` at `version` and waits up to `timeout` for its response.
    pub fn send<R>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, Error>
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        let io = |source| Error::Io {
            addr: self.addr.clone(),
            source,
        };
        let proto = |what: String| Error::Protocol {
            addr: self.addr.clone(),
            what,
        };
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(|e| proto(format!("encoding a request header: {e}")))?;
        request
            .encode(&mut body, version)
            .map_err(|e| proto(format!("encoding request {}: {e}", R::KEY)))?;
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
        frame.extend_from_slice(&body);
        self.stream
            .tcp()
            .set_write_timeout(Some(timeout))
            .map_err(io)?;
        self.stream
            .tcp()
            .set_read_timeout(Some(timeout))
            .map_err(io)?;
        self.stream
            .write_all(&frame)
            .and_then(|()| self.stream.flush())
            .map_err(|e| Error::Io {
                addr: self.addr.clone(),
                source: e,
            })?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).map_err(io)?;
        let len = i32::from_be_bytes(len);
        if len < 4 || len as usize > MAX_RESPONSE {
            return Err(proto(format!("a response of {len} bytes")));
        }
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf).map_err(io)?;
        let mut buf = bytes::Bytes::from(buf);
        let header = ResponseHeader::decode(&mut buf, R::Response::header_version(version))
            .map_err(|e| proto(format!("decoding a response header: {e}")))?;
        if header.correlation_id != self.correlation {
            return Err(proto(format!(
                "correlation id {} answered {}",
                self.correlation, header.correlation_id
            )));
        }
        let response = R::Response::decode(&mut buf, version)
            .map_err(|e| proto(format!("decoding response {}: {e}", R::KEY)))?;
        if buf.has_remaining() {
            tracing::debug!(
                api = R::KEY,
                left = buf.remaining(),
                "response longer than its schema"
            );
        }
        Ok(response)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(local) = self.local {
            OPEN.lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&local);
        }
    }
}
