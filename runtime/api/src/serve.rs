//! Serving the API over HTTP/1.1, with the limits a port anyone may reach needs:
//!
//! - at most [`Limits::max_connections`] connections at once; one more is closed as soon as
//!   it is accepted (and logged), so idle sockets cannot exhaust the worker's file handles;
//! - a request's head must arrive within [`Limits::header_timeout`] of the connection being
//!   ready for it: a half-sent header, and a kept-alive connection left idle, are closed;
//! - a whole request (its body read, its answer made) within [`Limits::request_timeout`], or
//!   it is answered 408 and its connection closed: a body sent a byte a second holds nothing.
//!
//! Written on hyper's connection builder rather than `axum::serve`, which sets neither limit.
//! On shutdown the listener closes and open connections finish their requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::IntoResponse as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::Service as _;

/// The connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a connection may take to send a request's head.
    pub header_timeout: Duration,
    /// How long a request may take, from its head to its answer.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then waits for the
/// requests in flight. A path with a trailing slash is the path without it, as in Kafka
/// Connect (`/connectors/x/`).
///
/// With `tls`, every connection first finishes a TLS handshake (within the header timeout)
/// with the certificate `tls` holds now, so a renewed certificate serves new connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<connectd_security::tls::ServerTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused_logged = false;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file handles, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "REST API: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(
                    max = limits.max_connections,
                    "REST API: too many open connections; closing new ones until some close"
                );
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let router = router.clone();
        let request_timeout = limits.request_timeout;
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let mut router = router.clone();
            async move {
                // A Router is always ready: `call` needs no `poll_ready` first.
                let answer = router.call(trim_trailing_slash(request.map(Body::new)));
                match tokio::time::timeout(request_timeout, answer).await {
                    Ok(answered) => answered,
                    Err(_) => {
                        let mut late = crate::ApiError(
                            axum::http::StatusCode::REQUEST_TIMEOUT,
                            format!(
                                "the request took longer than {} s",
                                request_timeout.as_secs()
                            ),
                        )
                        .into_response();
                        late.headers_mut().insert(
                            axum::http::header::CONNECTION,
                            axum::http::HeaderValue::from_static("close"),
                        );
                        Ok(late)
                    }
                }
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection =
                                builder.serve_connection(TokioIo::new(stream), service);
                            watcher.watch(connection).await
                        }
                        Ok(Err(e)) => {
                            tracing::info!(error = %e, "REST API: TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::info!("REST API: TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "REST API connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match request.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}
