//! A blocking connection to one Kafka broker that sends one request at a time: just what
//! group membership needs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup),
//! encoded and decoded by `kafka-protocol`.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::Error;

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
pub(crate) struct Connection {
    stream: TcpStream,
    /// Our end, as listed in [`OPEN`].
    local: Option<SocketAddr>,
    /// `host:port`, for errors.
    pub(crate) addr: String,
    client_id: String,
    correlation: i32,
}

impl Connection {
    /// Connects to `addr` (`host:port`) within `timeout`.
    pub(crate) fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Self, Error> {
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
                    if let Some(local) = local {
                        OPEN.lock().unwrap_or_else(|e| e.into_inner()).insert(local);
                    }
                    return Ok(Connection {
                        stream,
                        local,
                        addr: addr.to_string(),
                        client_id: client_id.to_string(),
                        correlation: 0,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(io(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "resolves to no address")
        })))
    }

    /// Sends `request` at `version` and waits up to `timeout` for its response.
    pub(crate) fn send<R>(
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
        self.stream.set_write_timeout(Some(timeout)).map_err(io)?;
        self.stream.set_read_timeout(Some(timeout)).map_err(io)?;
        self.stream.write_all(&frame).map_err(|e| Error::Io {
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
