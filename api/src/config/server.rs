//! Settings of the HTTP server: where it listens, what it accepts, and how long it waits.

use std::net::IpAddr;

use serde::Deserialize;

use super::Cidr;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; `0.0.0.0` to accept connections from other machines.
    pub bind: IpAddr,
    /// Port to listen on; `0` picks a free one (the start-up log line says which).
    pub port: u16,
    /// Origins allowed to call the API from a browser. Empty allows none cross-origin;
    /// `["*"]` allows any (for local development only).
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Proxies in front of the service, as address blocks (`["10.0.0.0/8", "127.0.0.1"]`).
    /// Only when the peer is one of them is `X-Forwarded-For` read, and the client is the
    /// rightmost hop that is not one of them. Empty (the default): the peer is the client.
    pub trusted_proxies: Vec<Cidr>,
    /// How long a client may take to send a request's headers (and, on a new connection,
    /// its first request); the connection is closed after it. Hyper also counts an idle
    /// kept-alive connection's wait for its next request against it, so behind a load
    /// balancer keep this above the balancer's idle timeout (or lower that one), or the
    /// balancer may reuse a connection just as it is closed.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body, counted from its headers;
    /// 408 after it.
    pub body_read_timeout_ms: u64,
    /// How long a request may take, body included, before it is answered 503. A WebSocket
    /// is not cut by it once upgraded. With Toss configured it must exceed the longest
    /// payment call (`payments.max_attempts` × (`connect_timeout_ms` + `read_timeout_ms`)
    /// plus backoff, about 100 s by default), or the service refuses to start: a client
    /// would be told REQUEST_TIMEOUT while it may have been charged.
    pub request_timeout_ms: u64,
    /// Requests served at once; more are refused at once with 503 and `Retry-After` rather
    /// than queued. `/healthz` and `/readyz` are exempt. Defaults to 256 per CPU core.
    pub max_in_flight_requests: Option<usize>,
    /// Base URL the service is reached at, used to build links to stored files.
    /// Defaults to `http://{bind}:{port}`.
    pub public_url: Option<String>,
    /// Serve the buyer web app at `/` (embedded in the binary).
    pub web_app: bool,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace_seconds: u64,
    /// The kernel's send buffer of each accepted connection, in bytes; 0 leaves it to the
    /// kernel, which grows it to megabytes on fast links. Bounding it bounds what thousands
    /// of WebSockets whose clients stop reading can hold, and makes them fall behind (and
    /// resync) sooner.
    pub socket_send_buffer_bytes: usize,
}

impl ServerSettings {
    /// The bound on requests in flight: the configured one, or 256 per CPU core.
    pub fn in_flight_limit(&self) -> usize {
        self.max_in_flight_requests
            .unwrap_or_else(|| 256 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            cors_allowed_origins: Vec::new(),
            body_limit_bytes: 2 * 1024 * 1024,
            trusted_proxies: Vec::new(),
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            request_timeout_ms: 120_000,
            max_in_flight_requests: None,
            public_url: None,
            web_app: true,
            shutdown_grace_seconds: 20,
            socket_send_buffer_bytes: 0,
        }
    }
}
