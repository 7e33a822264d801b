//! Sockets and framing: accept connections, read size-prefixed frames, decode the request
//! header, hand the body to [`crate::handlers`], and write responses in request order.
//!
//! Pipelining: a connection's requests are decoded and started in order by a reader task;
//! their responses are awaited and written in the same order by a writer task. A produce
//! request appends to the log while it is being started, then waits for its fsync inside its
//! response future, so one fsync covers every produce in flight (group commit).
//!
//! Bad input never takes the broker down: an oversized, ill-shaped ([`crate::shape`]) or
//! undecodable frame ([`crate::frame`]) closes only its own connection; an unsupported
//! version of ApiVersions gets the KIP-511 answer.
//!
//! While a large frame's body arrives, the socket's receive low-water mark
//! ([`crate::low_water`]) wakes the reader every 64 to 256 KiB rather than at every client
//! write.
//!
//! Security: each listener has its protocol ([`crate::listeners`]). TLS listeners finish a
//! handshake (rustls) before the first frame; SASL listeners serve nothing but ApiVersions and
//! the SASL exchange until the client authenticated ([`crate::auth::Session`]). The principal
//! goes to every handler in [`Client`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use connectd_security::tls::{ServerFiles, ServerTls};
use futures_util::future::BoxFuture;
use kafka_protocol::messages::RequestKind;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::buf::ByteBufMut;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::auth::{Outcome, Session};
use crate::budget::{Budget, Reserved};
use crate::engine::Broker;
use crate::frame::{self, Frame};
use crate::gather::Gather;
use crate::handlers::{self, Client};
use crate::listeners::Bound;
use crate::low_water::LowWater;
use crate::{Error, Result};

/// Requests one connection may have in flight before the reader stops reading.
const PIPELINE_DEPTH: usize = 64;

/// How long a started frame may go without a byte arriving before its connection is closed:
/// a client that sends a size and never the body holds nothing for long.
const FRAME_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client of a SASL listener has to authenticate after it connected.
const AUTHENTICATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest frame a client may send before it has authenticated (Kafka's
/// `sasl.server.max.receive.size`): a stranger cannot make the broker buffer 100 MiB.
const SASL_MAX_RECEIVE: usize = 512 * 1024;

/// A connection's read buffer: small requests (heartbeats, fetches) arrive several to a
/// read; larger frames bypass it and are read straight into their own buffer.
const READ_BUFFER: usize = 16 * 1024;

/// A bound, not yet serving set of Kafka listeners over a [`Broker`].
pub struct BoundBroker {
    broker: Arc<Broker>,
    listeners: Vec<(Bound, TcpListener)>,
    tls: Option<Arc<ServerTls>>,
}

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl BoundBroker {
    /// Opens the engine ([`Broker::open`]) and binds its Kafka listeners. Must be called
    /// inside a tokio runtime.
    pub async fn open(
        config: crate::BrokerConfig,
        data_dir: &std::path::Path,
    ) -> Result<BoundBroker> {
        Self::bind(Broker::open(config, data_dir)?).await
    }

    /// Binds the Kafka listeners (`listen`, or `listeners`) in front of an open engine, and
    /// loads the TLS certificate if a listener needs it.
    pub async fn bind(broker: Arc<Broker>) -> Result<BoundBroker> {
        let config = &broker.config;
        let tls = match &config.ssl {
            Some(ssl) => Some(Arc::new(
                ServerTls::load(ServerFiles {
                    certificate: ssl.certificate.clone(),
                    key: ssl.key.clone(),
                    truststore: ssl.truststore.clone(),
                    client_auth: ssl.client_auth,
                })
                .map_err(|e| Error::Metadata {
                    path: PathBuf::from("worker.toml [broker.ssl]"),
                    reason: e.to_string(),
                })?,
            )),
            None => None,
        };
        let mut listeners = Vec::new();
        for listener in config.listeners()? {
            let socket = TcpListener::bind(listener.addr).await.map_err(|e| {
                Error::io(
                    format!(
                        "binding Kafka listener {} ({})",
                        listener.name, listener.addr
                    ),
                    e,
                )
            })?;
            let local = socket
                .local_addr()
                .map_err(|e| Error::io("reading listener address", e))?;
            let advertised = listener
                .advertised
                .clone()
                .unwrap_or_else(|| (local.ip().to_string(), i32::from(local.port())));
            tracing::info!(listener = %listener.name, protocol = listener.protocol.name(), listen = %local, "broker listener ready");
            let bound = Bound {
                name: listener.name,
                protocol: listener.protocol,
                addr: local,
                advertised,
            };
            listeners.push((bound, socket));
        }
        let _ = broker
            .listeners
            .set(listeners.iter().map(|(b, _)| b.clone()).collect());
        Ok(BoundBroker {
            broker,
            listeners,
            tls,
        })
    }

    /// The first listener's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listeners[0].0.addr
    }

    /// Every bound listener, in the order of `listeners`.
    pub fn bound(&self) -> Vec<Bound> {
        self.listeners.iter().map(|(b, _)| b.clone()).collect()
    }

    /// The broker, for in-process use.
    pub fn broker(&self) -> Arc<Broker> {
        self.broker.clone()
    }

    /// Serves until `shutdown` turns true, then shuts the broker down cleanly.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let BoundBroker {
            broker,
            listeners,
            tls,
        } = self;
        let background = tokio::spawn(broker.clone().maintain());
        let budget = Arc::new(Budget::new(broker.config.queued_max_request_bytes));
        let mut accepting = Vec::new();
        let several = listeners.len() > 1;
        for (index, (bound, socket)) in listeners.into_iter().enumerate() {
            let (broker, budget, tls) = (broker.clone(), budget.clone(), tls.clone());
            let pool = match several && broker.config.is_worker_listener(index, &bound.name) {
                true => Pool::Workers,
                false => Pool::Shared,
            };
            accepting.push(tokio::spawn(accept_loop(
                broker, budget, tls, index, bound, socket, pool,
            )));
        }
        let _ = shutdown.changed().await;
        for task in accepting {
            task.abort();
        }
        background.abort();
        let b = broker.clone();
        tokio::task::spawn_blocking(move || b.shutdown())
            .await
            .map_err(|e| Error::io("shutdown task", std::io::Error::other(e)))?
    }
}

/// Which count of open connections a listener's count against `max_connections`.
#[derive(Clone, Copy)]
enum Pool {
    /// Every listener's but the workers' own.
    Shared,
    /// `worker_listener`'s, when there are several listeners.
    Workers,
}

impl Pool {
    fn count(self, broker: &Broker) -> &std::sync::atomic::AtomicUsize {
        match self {
            Pool::Shared => &broker.connections,
            Pool::Workers => &broker.worker_connections,
        }
    }
}

/// Accepts connections on one listener, forever.
async fn accept_loop(
    broker: Arc<Broker>,
    budget: Arc<Budget>,
    tls: Option<Arc<ServerTls>>,
    index: usize,
    bound: Bound,
    socket: TcpListener,
    pool: Pool,
) {
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(listener = %bound.name, error = %e, "accept failed");
                // Out of file descriptors, typically: give the others a moment to close.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // An IPv4 client of a dual-stack ([::]) listener shows as ::ffff:a.b.c.d: its plain
        // IPv4 address is what ACL hosts, internal_allowed_clients and the per-IP limit name.
        let peer = std::net::SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let open = pool.count(&broker).fetch_add(1, Ordering::AcqRel) + 1;
        if open > broker.config.max_connections {
            pool.count(&broker).fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(%peer, listener = %bound.name, limit = broker.config.max_connections, "max.connections reached; closing new connection");
            drop(stream);
            continue;
        }
        if let Some(limit) = broker.config.max_connections_per_ip {
            let mut per_ip = broker.per_ip.lock();
            let count = per_ip.entry(peer.ip()).or_default();
            if *count >= limit {
                drop(per_ip);
                pool.count(&broker).fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(%peer, limit, "max.connections.per.ip reached; closing new connection");
                continue;
            }
            *count += 1;
        }
        let (broker, budget) = (broker.clone(), budget.clone());
        let tls = bound.protocol.tls().then(|| tls.clone()).flatten();
        let sasl = bound.protocol.sasl();
        tokio::spawn(async move {
            stream.set_nodelay(true).ok();
            let low_water = LowWater::of(&stream);
            let result = match tls {
                None => {
                    let session = Session::new(connectd_security::ANONYMOUS.into(), sasl);
                    let (reader, writer) = stream.into_split();
                    let accepted = Accepted {
                        peer,
                        listener: index,
                        low_water,
                    };
                    serve_connection(broker.clone(), budget, reader, writer, accepted, session)
                        .await
                }
                Some(tls) => match accept_tls(&tls, stream).await {
                    Ok((stream, principal)) => {
                        let session = Session::new(principal, sasl);
                        let (reader, writer) = tokio::io::split(stream);
                        let accepted = Accepted {
                            peer,
                            listener: index,
                            low_water,
                        };
                        serve_connection(broker.clone(), budget, reader, writer, accepted, session)
                            .await
                    }
                    Err(e) => {
                        // Kafka logs a failed authentication at INFO too.
                        tracing::info!(%peer, listener = index, error = %e, "TLS handshake failed");
                        Ok(())
                    }
                },
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            if broker.config.max_connections_per_ip.is_some() {
                let mut per_ip = broker.per_ip.lock();
                if let Some(count) = per_ip.get_mut(&peer.ip()) {
                    *count -= 1;
                    if *count == 0 {
                        per_ip.remove(&peer.ip());
                    }
                }
            }
            pool.count(&broker).fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// The TLS handshake, and the principal of the client's certificate if it showed one.
async fn accept_tls(
    tls: &ServerTls,
    stream: TcpStream,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, String)> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
    let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| Error::io("TLS handshake", std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| Error::io("TLS handshake", e))?;
    let principal = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(connectd_security::tls::certificate_principal)
        .unwrap_or_else(|| connectd_security::ANONYMOUS.to_string());
    Ok((stream, principal))
}

/// A started request: its header, response header version, the future of its response, and
/// its share of the request budget, given back when the response is written.
type Pending = (
    RequestHeader,
    i16,
    BoxFuture<'static, Option<ResponseKind>>,
    Option<Reserved>,
    Instant,
);

/// Clients connected now.
const CONNECTIONS: &str = "connectd_broker_connections";
/// From a request's last byte read to its response ready, by API.
const REQUEST_SECONDS: &str = "connectd_broker_request_duration_seconds";

/// Describes the broker's metrics to the installed recorder (see `connectd_worker::metrics`
/// for how they are served).
pub fn describe_metrics() {
    metrics::describe_gauge!(CONNECTIONS, "Client connections open now.");
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time from a request read to its response ready, by API."
    );
    crate::handlers::describe_metrics();
}

/// The API's name as Kafka's request metrics spell it (`Produce`, `Fetch`, ...).
fn api_name(key: i16) -> String {
    kafka_protocol::messages::ApiKey::try_from(key)
        .map(|k| format!("{k:?}").trim_end_matches("Key").to_string())
        .unwrap_or_else(|_| key.to_string())
}

/// Counts a connection in [`CONNECTIONS`] while it lives.
struct Connected;

impl Connected {
    fn new() -> Self {
        metrics::gauge!(CONNECTIONS).increment(1.0);
        Connected
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS).decrement(1.0);
    }
}

/// A connection just accepted: who, on which listener, and its socket's low-water mark.
struct Accepted {
    peer: SocketAddr,
    listener: usize,
    low_water: LowWater,
}

/// Serves one connection, plain or TLS, until the client closes it or sends something that
/// closes it.
async fn serve_connection<R, W>(
    broker: Arc<Broker>,
    budget: Arc<Budget>,
    reader: R,
    mut writer: W,
    accepted: Accepted,
    mut session: Session,
) -> Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Accepted {
        peer,
        listener,
        mut low_water,
    } = accepted;
    let _connected = Connected::new();
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let (tx, mut rx) = mpsc::channel::<Pending>(PIPELINE_DEPTH);
    // Requests read and not yet answered: a connection is idle only when this is zero.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let answered = in_flight.clone();
    let write_loop = tokio::spawn(async move {
        let mut out = BytesMut::new();
        while let Some((header, response_header_version, fut, permit, read_at)) = rx.recv().await {
            let _done = Answered {
                in_flight: &answered,
                _budget: permit,
            };
            let response = fut.await;
            metrics::histogram!(REQUEST_SECONDS, "api" => api_name(header.request_api_key))
                .record(read_at.elapsed());
            let Some(response) = response else { continue }; // acks=0: no response
            let resp_header = ResponseHeader::default().with_correlation_id(header.correlation_id);
            if let ResponseKind::Fetch(fetch) = &response {
                // Record batches go out by reference, not copied into the response.
                let sources = fetch
                    .responses
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .filter_map(|p| p.records.clone())
                    .collect();
                let mut gather = Gather::new(sources);
                if let Err(e) = resp_header
                    .encode(&mut gather, response_header_version)
                    .and_then(|_| fetch.encode(&mut gather, header.request_api_version))
                {
                    tracing::error!(version = header.request_api_version, error = %e, "encoding a fetch response failed; closing connection");
                    break;
                }
                let len = gather.offset() as i32;
                let mut parts = gather.finish();
                parts.insert(0, Bytes::copy_from_slice(&len.to_be_bytes()));
                if crate::gather::write_parts(&mut writer, &parts)
                    .await
                    .is_err()
                    || writer.flush().await.is_err()
                {
                    break;
                }
                continue;
            }
            out.clear();
            out.put_i32(0);
            if let Err(e) = resp_header
                .encode(&mut out, response_header_version)
                .and_then(|_| response.encode(&mut out, header.request_api_version))
            {
                tracing::error!(api_key = header.request_api_key, version = header.request_api_version, error = %e, "encoding response failed; closing connection");
                break;
            }
            let len = (out.len() - 4) as i32;
            out[..4].copy_from_slice(&len.to_be_bytes());
            // A TLS writer holds records until flushed; a TCP one flushes nothing.
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
        // The answers are out: a TLS client gets close_notify, so the last answer (a failed
        // authentication's) is not read as a truncated stream.
        let _ = writer.shutdown().await;
    });
    let client_host = peer.ip().to_string();
    let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
    let share = budget.connection();
    // The logged-in principal's share, taken at its first request (it never changes after).
    let mut principal_share: Option<Arc<Semaphore>> = None;
    let connected_at = Instant::now();
    let result = async {
        loop {
            // A SASL client that has not authenticated has until its deadline, not the idle time.
            let wait = match session.authenticated() {
                true => idle,
                false => AUTHENTICATION_TIMEOUT.saturating_sub(connected_at.elapsed()),
            };
            if wait.is_zero() {
                tracing::info!(%peer, "not authenticated within 10 s; closing connection");
                return Ok(());
            }
            let Some(size) = read_size(&mut reader, wait, &in_flight).await? else {
                if !session.authenticated() && connected_at.elapsed() >= AUTHENTICATION_TIMEOUT {
                    tracing::info!(%peer, "not authenticated within 10 s; closing connection");
                } else {
                    tracing::debug!(%peer, idle_ms = idle.as_millis() as u64, "closed by the client, or idle for connections.max.idle.ms");
                }
                return Ok(());
            };
            if !session.authenticated() && size as usize > SASL_MAX_RECEIVE {
                tracing::warn!(%peer, size, limit = SASL_MAX_RECEIVE, "frame before authentication larger than sasl.server.max.receive.size; closing connection");
                return Ok(());
            }
            if size < 4 || size as usize > broker.config.socket_request_max_bytes {
                tracing::warn!(%peer, size, limit = broker.config.socket_request_max_bytes, "frame size out of bounds (socket.request.max.bytes); closing connection");
                return Ok(());
            }
            let size = size as usize;
            // An authenticated frame takes its share of the request budget before its body is
            // read (backpressure, as Kafka's memory pool); one before authentication takes
            // none and grows as its bytes arrive, so strangers cannot hold the budget or
            // memory with sizes alone.
            let authenticated = session.authenticated();
            let permit = match authenticated {
                true => {
                    let principal = principal_share
                        .get_or_insert_with(|| budget.principal(&session.principal()));
                    Some(budget.reserve(&share, principal, size).await)
                }
                false => None,
            };
            // Read straight into spare capacity: no zeroing of large produce frames.
            let mut frame = BytesMut::with_capacity(if authenticated { size } else { size.min(READ_BUFFER) });
            let mut body = (&mut reader).take(size as u64);
            // Closed when no byte arrives for the stall timeout, and before authentication at
            // the authentication deadline too.
            let auth_deadline = (!authenticated).then_some(connected_at + AUTHENTICATION_TIMEOUT);
            let mut progress = Instant::now();
            let next_check = |progress: Instant| {
                let stall = progress + FRAME_STALL_TIMEOUT;
                tokio::time::Instant::from_std(auth_deadline.map_or(stall, |d| d.min(stall)))
            };
            let mut stalled = std::pin::pin!(tokio::time::sleep_until(next_check(progress)));
            while frame.len() < size {
                if frame.capacity() == frame.len() {
                    frame.reserve((size - frame.len()).min(READ_BUFFER));
                }
                low_water.expect(size - frame.len());
                tokio::select! {
                    biased;
                    read = body.read_buf(&mut frame) => {
                        if read.map_err(|e| Error::io("reading frame", e))? == 0 {
                            return Err(Error::io("reading frame", std::io::ErrorKind::UnexpectedEof.into()));
                        }
                        progress = Instant::now();
                    }
                    () = &mut stalled => {
                        // One timer per frame: it fires at most once per stall period.
                        if auth_deadline.is_some_and(|d| Instant::now() >= d) {
                            tracing::info!(%peer, "not authenticated within 10 s; closing connection");
                            return Ok(());
                        }
                        if progress.elapsed() >= FRAME_STALL_TIMEOUT && low_water.held() {
                            // Bytes came, fewer than the mark: the client is slow, not gone.
                            // They are read with no mark; one more period for the next.
                            low_water.pause();
                            progress = Instant::now();
                        }
                        if progress.elapsed() >= FRAME_STALL_TIMEOUT {
                            tracing::warn!(%peer, size, read = frame.len(), "no byte of a started frame for 30 s; closing connection");
                            return Ok(());
                        }
                        stalled.as_mut().reset(next_check(progress));
                    }
                }
            }
            low_water.reset();
            let read_at = Instant::now();
            let mut frame = frame.freeze();
            let connection = Connection {
                host: &client_host,
                peer,
                listener,
            };
            let Some((header, version, fut, then)) =
                decode_and_start(&broker, &mut frame, &connection, &mut session)
            else {
                return Ok(());
            };
            in_flight.fetch_add(1, Ordering::AcqRel);
            let pending = tx.send((header, version, fut, permit, read_at));
            let queued = match auth_deadline {
                None => pending.await.is_ok(),
                // A stranger that pipelines requests and never reads the answers fills the
                // queue; the authentication deadline holds here too, not only while reading.
                Some(d) => tokio::time::timeout_at(d.into(), pending)
                    .await
                    .is_ok_and(|sent| sent.is_ok()),
            };
            if !queued {
                return Ok(());
            }
            if let Then::Close = then {
                // The answer goes out now; the close waits (Kafka's
                // connection.failed.authentication.delay.ms), so a password guesser gets one
                // try per delay, and a client reads the answer before it sees the close.
                tokio::time::sleep(crate::auth::FAILED_AUTHENTICATION_DELAY).await;
                return Ok(());
            }
        }
    }
    .await;
    drop(tx);
    if session.authenticated() {
        let _ = write_loop.await;
    } else {
        // A stranger that does not read its answers does not keep the connection open: its
        // answers get what is left of the authentication deadline, at least a second.
        let left = AUTHENTICATION_TIMEOUT
            .saturating_sub(connected_at.elapsed())
            .max(Duration::from_secs(1));
        let abort = write_loop.abort_handle();
        if tokio::time::timeout(left, write_loop).await.is_err() {
            abort.abort();
        }
    }
    result
}

/// Marks one request answered (or dropped) and returns its budget, however the writer leaves
/// the iteration.
struct Answered<'a> {
    in_flight: &'a AtomicUsize,
    _budget: Option<Reserved>,
}

impl Drop for Answered<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads the next frame's size. `None` when the peer closed the connection, or sent nothing
/// for `idle` while no request of its was in flight. Bytes already buffered are taken without
/// arming a timer (a busy pipelined connection reads its next size straight away); the wait
/// for more is cancel-safe, so a size that arrives slowly is never torn.
async fn read_size<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    idle: Duration,
    in_flight: &AtomicUsize,
) -> Result<Option<i32>> {
    let mut size = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let buffered = reader.buffer();
        if !buffered.is_empty() {
            let n = buffered.len().min(4 - got);
            size[got..got + n].copy_from_slice(&buffered[..n]);
            reader.consume(n);
            got += n;
            continue;
        }
        match tokio::time::timeout(idle, reader.fill_buf()).await {
            Ok(Ok([])) if got == 0 => return Ok(None),
            Ok(Ok([])) => {
                return Err(Error::io(
                    "reading frame size",
                    std::io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Error::io("reading frame size", e)),
            Err(_) if in_flight.load(Ordering::Acquire) > 0 => {} // a long poll, not idle
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(i32::from_be_bytes(size)))
}

/// Where a frame came from.
struct Connection<'a> {
    host: &'a str,
    peer: SocketAddr,
    listener: usize,
}

/// What the connection does after a request is started.
enum Then {
    /// Reads the next request.
    Read,
    /// Writes the answers so far, then closes (a failed authentication).
    Close,
}

/// Decodes one frame and starts its handler. `None` closes the connection.
fn decode_and_start(
    broker: &Arc<Broker>,
    frame: &mut Bytes,
    connection: &Connection<'_>,
    session: &mut Session,
) -> Option<(
    RequestHeader,
    i16,
    BoxFuture<'static, Option<ResponseKind>>,
    Then,
)> {
    let peer = connection.peer;
    let (header, key, version, request) = match frame::decode(frame) {
        Ok(Frame::Request {
            header,
            key,
            version,
            request,
        }) => (header, key, version, *request),
        Ok(Frame::UnsupportedApiVersions { correlation_id }) => {
            let header = RequestHeader::default()
                .with_request_api_key(ApiKey::ApiVersions as i16)
                .with_request_api_version(0)
                .with_correlation_id(correlation_id);
            let response = handlers::api_versions_unsupported();
            return Some((
                header,
                0,
                Box::pin(async move { Some(response) }),
                Then::Read,
            ));
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e, "closing connection");
            return None;
        }
    };
    if !session.admits(key) {
        tracing::warn!(%peer, api = ?key, "request before SASL authentication; closing connection");
        return None;
    }
    let response_version = key.response_header_version(version);
    // Authentication changes the connection's state before the next frame is read, so it
    // runs here, in request order, not in a response future.
    let security = Some(&broker.security);
    let sasl = match &request {
        RequestKind::SaslHandshake(_) if version == 0 => Some((
            ResponseKind::SaslHandshake(
                kafka_protocol::messages::SaslHandshakeResponse::default()
                    .with_error_code(kafka_protocol::ResponseError::UnsupportedVersion.code()),
            ),
            Outcome::Fail,
        )),
        RequestKind::SaslHandshake(req) => {
            let (response, outcome) = session.handshake(security, req);
            Some((ResponseKind::SaslHandshake(response), outcome))
        }
        RequestKind::SaslAuthenticate(req) => {
            let (response, outcome) = session.authenticate(security, req);
            match outcome {
                Outcome::Continue if session.authenticated() => {
                    tracing::debug!(%peer, principal = %session.principal(), "authenticated")
                }
                Outcome::Continue => {}
                Outcome::Fail => tracing::info!(%peer, "SASL authentication failed"),
            }
            Some((ResponseKind::SaslAuthenticate(response), outcome))
        }
        _ => None,
    };
    if let Some((response, outcome)) = sasl {
        return Some(match outcome {
            Outcome::Continue => (
                header,
                response_version,
                Box::pin(async move { Some(response) }),
                Then::Read,
            ),
            Outcome::Fail => (
                header,
                response_version,
                Box::pin(async move { Some(response) }),
                Then::Close,
            ),
        });
    }
    let client = Client {
        id: header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        host: connection.host.to_string(),
        peer,
        principal: session.principal(),
        listener: connection.listener,
    };
    let fut = handlers::start(broker.clone(), &header, request, client);
    Some((header, response_version, fut, Then::Read))
}
