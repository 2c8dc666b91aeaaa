//! Prometheus metrics, one registry per running application (so that tests running several
//! servers in one process each see their own figures), rendered at `/metrics`.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationNameLabels {
    pub operation: String,
}

/// Statements are told apart by who ran them, so that a request's cost can be read without
/// the relay's and the scheduler's polling mixed in.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatementLabels {
    pub outcome: &'static str,
    pub origin: &'static str,
}

tokio::task_local! {
    /// Set for the whole life of a background task; unset while serving requests.
    static BACKGROUND: ();
}

/// Spawns a background task whose database statements are counted with
/// `origin="background"` rather than `origin="request"`.
pub fn spawn_background<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(BACKGROUND.scope((), task))
}

/// A cache lookup: which cache, and whether it was a `hit` or a `miss`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: &'static str,
    pub outcome: &'static str,
}

/// How a subscription's event was encoded: `shared` by every subscriber of its shape, or
/// `own` (executed for one subscriber).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    pub path: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: &'static str,
}

/// An outcome: of a hold request, a payment provider call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// Where a request's lag-tolerant reads went (see `infra::replicas::Route::label`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: &'static str,
}

/// A replica, numbered from 1 in configuration order (its URL holds a password).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaLabels {
    pub replica: u32,
}

/// A consumer of the outbox: `relay` (publishing, and the notifications written with it) or
/// `search_index` (this instance's index).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    pub consumer: &'static str,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The operation names that have a label of their own: the first `limit` distinct ones seen.
/// Names come from clients, so without a bound every new name would add series forever.
#[derive(Debug)]
pub struct OperationNames {
    limit: usize,
    known: Mutex<HashSet<String>>,
}

impl OperationNames {
    /// The label for an operation named `name` (already tidied by the caller).
    pub fn label(&self, name: String) -> String {
        let Ok(mut known) = self.known.lock() else {
            return OTHER_OPERATION.into();
        };
        if known.contains(&name) {
            return name;
        }
        if known.len() < self.limit {
            known.insert(name.clone());
            return name;
        }
        OTHER_OPERATION.into()
    }
}

/// The label of operations named after the label bound was reached.
pub const OTHER_OPERATION: &str = "other";

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~4 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// Every metric the service records.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily<RouteLabels>,
    pub graphql_operations: Family<OperationLabels, Counter>,
    pub graphql_duration: HistogramFamily<OperationNameLabels>,
    pub db_statements: Family<StatementLabels, Counter>,
    pub db_statement_duration: Histogram,
    pub db_pool_connections: Family<PoolLabels, Gauge>,
    pub cache_requests: Family<CacheLabels, Counter>,
    /// Hold requests applied per transaction by the hold combiner (group commit).
    pub hold_batch_size: Histogram,
    /// Hold batches that failed as a whole and were applied one request at a time.
    pub hold_batch_fallbacks: Counter,
    /// How long a hold batch's transaction took, begin to commit.
    pub hold_batch_duration: Histogram,
    /// Subscription events sent to clients, by path.
    pub subscription_events: Family<PathLabels, Counter>,
    /// Subscription responses executed and serialised, by path: with `shared`, far fewer
    /// than the events sent.
    pub subscription_encodings: Family<PathLabels, Counter>,
    /// Hold requests by outcome (held, seat_unavailable, rejected, error) and their latency.
    pub holds: Family<OutcomeLabels, Counter>,
    pub hold_duration: HistogramFamily<OutcomeLabels>,
    /// Sessions whose sales are open now; read at scrape time.
    pub sessions_on_sale: Gauge,
    /// Open WebSockets and the operations they run; read at scrape time.
    pub websocket_connections: Gauge,
    pub websocket_operations: Gauge,
    /// Age of the oldest outbox event a consumer has not handled yet; read at scrape time.
    pub outbox_lag: Family<ConsumerLabels, FloatGauge>,
    /// Where requests' lag-tolerant reads went.
    pub read_routes: Family<TargetLabels, Counter>,
    /// Replicas' state as the monitor last saw it; set at scrape time.
    pub replica_up: Family<ReplicaLabels, Gauge>,
    pub replica_lag: Family<ReplicaLabels, FloatGauge>,
    /// Keyword searches answered from the index, start to end.
    pub search_duration: Histogram,
    /// Calls to the payment provider by outcome (ok, refused, error, breaker_open).
    pub payment_calls: Family<OutcomeLabels, Counter>,
    /// 1 while the payment provider's circuit breaker is open; set at scrape time.
    pub payment_breaker_open: Gauge,
    pub operation_names: OperationNames,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(100)
    }
}

impl Metrics {
    /// Metrics in which at most `max_operation_labels` operation names get a label of their own.
    pub fn new(max_operation_labels: usize) -> Self {
        let mut registry = Registry::with_prefix("curtain");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            http_requests.clone(),
        );
        let http_duration = HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_duration.clone(),
        );
        let graphql_operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "graphql_operations",
            "GraphQL operations by operation name and outcome (ok or error)",
            graphql_operations.clone(),
        );
        let graphql_duration = HistogramFamily::<OperationNameLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "graphql_operation_duration_seconds",
            "GraphQL operation latency by operation name",
            graphql_duration.clone(),
        );
        let db_statements = Family::<StatementLabels, Counter>::default();
        registry.register(
            "db_statements",
            "SQL statements executed, by outcome",
            db_statements.clone(),
        );
        let db_statement_duration = latency_histogram();
        registry.register(
            "db_statement_duration_seconds",
            "SQL statement latency",
            db_statement_duration.clone(),
        );
        let db_pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state (idle or in_use), read at scrape time",
            db_pool_connections.clone(),
        );
        let cache_requests = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_requests",
            "Cache lookups by cache (search, catalog) and outcome (hit or miss); hits / all is the hit ratio",
            cache_requests.clone(),
        );
        let hold_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "hold_batch_size",
            "Hold requests applied together in one transaction (group commit)",
            hold_batch_size.clone(),
        );
        let hold_batch_fallbacks = Counter::default();
        registry.register(
            "hold_batch_fallbacks",
            "Hold batches that failed as a whole and were applied one request at a time",
            hold_batch_fallbacks.clone(),
        );
        let hold_batch_duration = latency_histogram();
        registry.register(
            "hold_batch_duration_seconds",
            "How long a hold batch's transaction took, from begin to commit",
            hold_batch_duration.clone(),
        );
        let subscription_events = Family::<PathLabels, Counter>::default();
        registry.register(
            "subscription_events",
            "Subscription events sent over WebSockets, by path (shared encoding or own execution)",
            subscription_events.clone(),
        );
        let subscription_encodings = Family::<PathLabels, Counter>::default();
        registry.register(
            "subscription_encodings",
            "Subscription responses executed and serialised, by path; shared ones serve every subscriber of a shape",
            subscription_encodings.clone(),
        );
        let holds = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "holds",
            "Hold requests by outcome (held, seat_unavailable, rejected, error)",
            holds.clone(),
        );
        let hold_duration = HistogramFamily::<OutcomeLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "hold_duration_seconds",
            "How long a hold request took, by outcome",
            hold_duration.clone(),
        );
        let sessions_on_sale = Gauge::default();
        registry.register(
            "sessions_on_sale",
            "Sessions whose sales are open now, read at scrape time",
            sessions_on_sale.clone(),
        );
        let websocket_connections = Gauge::default();
        registry.register(
            "websocket_connections",
            "Open WebSocket connections on this instance",
            websocket_connections.clone(),
        );
        let websocket_operations = Gauge::default();
        registry.register(
            "websocket_operations",
            "Operations (mostly subscriptions) running over this instance's WebSockets",
            websocket_operations.clone(),
        );
        let outbox_lag = Family::<ConsumerLabels, FloatGauge>::default();
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest outbox event a consumer has not handled yet (0 when none), by consumer",
            outbox_lag.clone(),
        );
        let read_routes = Family::<TargetLabels, Counter>::default();
        registry.register(
            "db_read_routes",
            "Requests by where their lag-tolerant reads went (replica, or primary and why)",
            read_routes.clone(),
        );
        let replica_up = Family::<ReplicaLabels, Gauge>::default();
        registry.register(
            "replica_up",
            "1 when the read replica answers and is in recovery, by replica number",
            replica_up.clone(),
        );
        let replica_lag = Family::<ReplicaLabels, FloatGauge>::default();
        registry.register(
            "replica_lag_seconds",
            "Bound on how far the read replica is behind the primary (NaN when unknown)",
            replica_lag.clone(),
        );
        let search_duration = latency_histogram();
        registry.register(
            "search_duration_seconds",
            "Keyword searches, from the request to the ranked hits",
            search_duration.clone(),
        );
        let payment_calls = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "payment_provider_calls",
            "Calls to the payment provider by outcome (ok, refused, error, breaker_open)",
            payment_calls.clone(),
        );
        let payment_breaker_open = Gauge::default();
        registry.register(
            "payment_breaker_open",
            "1 while the payment provider's circuit breaker is open",
            payment_breaker_open.clone(),
        );
        Self {
            registry,
            holds,
            hold_duration,
            sessions_on_sale,
            websocket_connections,
            websocket_operations,
            outbox_lag,
            read_routes,
            replica_up,
            replica_lag,
            search_duration,
            payment_calls,
            payment_breaker_open,
            subscription_events,
            subscription_encodings,
            hold_batch_duration,
            hold_batch_size,
            hold_batch_fallbacks,
            http_requests,
            http_duration,
            graphql_operations,
            graphql_duration,
            db_statements,
            db_statement_duration,
            db_pool_connections,
            cache_requests,
            operation_names: OperationNames {
                limit: max_operation_labels,
                known: Mutex::new(HashSet::new()),
            },
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn count_read_route(&self, target: &'static str) {
        self.read_routes.get_or_create(&TargetLabels { target }).inc();
    }

    /// Counts a hold request that took `elapsed` and ended with `outcome`.
    pub fn record_hold(&self, outcome: &'static str, elapsed: std::time::Duration) {
        let labels = OutcomeLabels { outcome };
        self.holds.get_or_create(&labels).inc();
        self.hold_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn count_payment_call(&self, outcome: &'static str) {
        self.payment_calls.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn record_statement(&self, elapsed: std::time::Duration, failed: bool) {
        let outcome = if failed { "error" } else { "ok" };
        let origin = if BACKGROUND.try_with(|_| ()).is_ok() {
            "background"
        } else {
            "request"
        };
        self.db_statements
            .get_or_create(&StatementLabels { outcome, origin })
            .inc();
        self.db_statement_duration.observe(elapsed.as_secs_f64());
    }
}
