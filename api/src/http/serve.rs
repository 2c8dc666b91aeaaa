//! The accept loop. `axum::serve` gives no way to bound how long a client may take to send
//! its headers, so connections are served with hyper-util directly: HTTP/1.1 (with upgrades,
//! for WebSockets) and HTTP/2, the peer address as axum's `ConnectInfo`, graceful shutdown.
//!
//! A connection must deliver its first request's headers within the header timeout, or it
//! is closed: this covers the bytes hyper reads to tell HTTP/1 from HTTP/2, which its own
//! header timeout does not. Later requests on a kept-alive HTTP/1 connection are timed by
//! hyper (`header_read_timeout`), idle waits included.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How accepted connections are treated.
#[derive(Debug, Clone, Copy)]
pub struct Accepting {
    /// How long a client may take to send its first request's headers.
    pub header_timeout: Duration,
    /// The kernel's send buffer of each connection; 0 leaves it to the kernel.
    pub send_buffer_bytes: usize,
}

/// Serves `router` on `listener` until `stop` turns true, then waits for the connections in
/// progress to finish (upgraded WebSockets are not waited for).
pub async fn serve(mut listener: TcpListener, router: Router, accepting: Accepting, mut stop: watch::Receiver<bool>) {
    let header_timeout = accepting.header_timeout;
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // Needed for WebSockets over HTTP/2 (RFC 8441).
    builder.http2().enable_connect_protocol();
    let graceful = GracefulShutdown::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        if accepting.send_buffer_bytes > 0
            && let Err(err) = socket2::SockRef::from(&io).set_send_buffer_size(accepting.send_buffer_bytes)
        {
            tracing::warn!(%peer, error = %err, "could not bound a connection's send buffer");
        }
        let first_request = Arc::new(AtomicBool::new(false));
        let seen = first_request.clone();
        let service = router.clone().map_request(move |request: Request<Incoming>| {
            seen.store(true, Ordering::Release);
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                }
                () = tokio::time::sleep(header_timeout) => {
                    if !first_request.load(Ordering::Acquire) {
                        tracing::debug!(%peer, "no request headers within the header timeout: closing");
                        return;
                    }
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
