//! Prometheus metrics, one registry per running application (so that tests running several
//! servers in one process each see their own figures), rendered at `/metrics`.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod labels;

pub use labels::{
    CacheLabels, ConsumerLabels, HttpLabels, OperationLabels, OperationNameLabels, OutcomeLabels, PathLabels,
    PoolLabels, ReplicaLabels, RouteLabels, StatementLabels, TargetLabels,
};

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

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Registers `metric` under `name` and gives it back, to be kept and updated.
fn register<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

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
    /// Queries answered straight to JSON (see `graphql::direct`) rather than by the executor.
    pub graphql_direct_answers: Counter,
    /// Known documents the direct writer handed back to the executor (bad variables, a
    /// failed read): the executor's answer carries the error.
    pub graphql_direct_fallbacks: Counter,
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
    /// Read-only transactions begun to give a query's reads one snapshot (one per query
    /// that read the database; see `graphql::reads`).
    pub read_snapshots: Counter,
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
        let http_requests = register(
            &mut registry,
            "http_requests",
            "HTTP requests by route, method and status",
            Family::<HttpLabels, Counter>::default(),
        );
        let http_duration = register(
            &mut registry,
            "http_request_duration_seconds",
            "HTTP request latency by route",
            HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram),
        );
        let graphql_operations = register(
            &mut registry,
            "graphql_operations",
            "GraphQL operations by operation name and outcome (ok or error)",
            Family::<OperationLabels, Counter>::default(),
        );
        let graphql_duration = register(
            &mut registry,
            "graphql_operation_duration_seconds",
            "GraphQL operation latency by operation name",
            HistogramFamily::<OperationNameLabels>::new_with_constructor(latency_histogram),
        );
        let db_statements = register(
            &mut registry,
            "db_statements",
            "SQL statements executed, by outcome",
            Family::<StatementLabels, Counter>::default(),
        );
        let db_statement_duration = register(
            &mut registry,
            "db_statement_duration_seconds",
            "SQL statement latency",
            latency_histogram(),
        );
        let db_pool_connections = register(
            &mut registry,
            "db_pool_connections",
            "Database pool connections by state (idle or in_use), read at scrape time",
            Family::<PoolLabels, Gauge>::default(),
        );
        let cache_requests = register(
            &mut registry,
            "cache_requests",
            "Cache lookups by cache (search, catalog) and outcome (hit, or miss: the request loaded it; a request served what another loaded for it counts as a hit); hits / all is the hit ratio",
            Family::<CacheLabels, Counter>::default(),
        );
        let graphql_direct_answers = register(
            &mut registry,
            "graphql_direct_answers",
            "GraphQL queries answered by the direct writer of the hot catalog read instead of the executor",
            Counter::default(),
        );
        let graphql_direct_fallbacks = register(
            &mut registry,
            "graphql_direct_fallbacks",
            "Known GraphQL documents the direct writer handed back to the executor (bad variables, a failed read)",
            Counter::default(),
        );
        let hold_batch_size = register(
            &mut registry,
            "hold_batch_size",
            "Hold requests applied together in one transaction (group commit)",
            Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        );
        let hold_batch_fallbacks = register(
            &mut registry,
            "hold_batch_fallbacks",
            "Hold batches that failed as a whole and were applied one request at a time",
            Counter::default(),
        );
        let hold_batch_duration = register(
            &mut registry,
            "hold_batch_duration_seconds",
            "How long a hold batch's transaction took, from begin to commit",
            latency_histogram(),
        );
        let subscription_events = register(
            &mut registry,
            "subscription_events",
            "Subscription events sent over WebSockets, by path (shared encoding or own execution)",
            Family::<PathLabels, Counter>::default(),
        );
        let subscription_encodings = register(
            &mut registry,
            "subscription_encodings",
            "Subscription responses executed and serialised, by path; shared ones serve every subscriber of a shape",
            Family::<PathLabels, Counter>::default(),
        );
        let holds = register(
            &mut registry,
            "holds",
            "Hold requests by outcome (held, seat_unavailable, rejected, error)",
            Family::<OutcomeLabels, Counter>::default(),
        );
        let hold_duration = register(
            &mut registry,
            "hold_duration_seconds",
            "How long a hold request took, by outcome",
            HistogramFamily::<OutcomeLabels>::new_with_constructor(latency_histogram),
        );
        let sessions_on_sale = register(
            &mut registry,
            "sessions_on_sale",
            "Sessions whose sales are open now, read at scrape time",
            Gauge::default(),
        );
        let websocket_connections = register(
            &mut registry,
            "websocket_connections",
            "Open WebSocket connections on this instance",
            Gauge::default(),
        );
        let websocket_operations = register(
            &mut registry,
            "websocket_operations",
            "Operations (mostly subscriptions) running over this instance's WebSockets",
            Gauge::default(),
        );
        let outbox_lag = register(
            &mut registry,
            "outbox_lag_seconds",
            "Age of the oldest outbox event a consumer has not handled yet (0 when none), by consumer",
            Family::<ConsumerLabels, FloatGauge>::default(),
        );
        let read_routes = register(
            &mut registry,
            "db_read_routes",
            "Requests by where their lag-tolerant reads went (replica, or primary and why)",
            Family::<TargetLabels, Counter>::default(),
        );
        let read_snapshots = register(
            &mut registry,
            "db_read_snapshots",
            "Read-only transactions begun to give a query's reads one snapshot",
            Counter::default(),
        );
        let replica_up = register(
            &mut registry,
            "replica_up",
            "1 when the read replica answers and is in recovery, by replica number",
            Family::<ReplicaLabels, Gauge>::default(),
        );
        let replica_lag = register(
            &mut registry,
            "replica_lag_seconds",
            "Bound on how far the read replica is behind the primary (NaN when unknown)",
            Family::<ReplicaLabels, FloatGauge>::default(),
        );
        let search_duration = register(
            &mut registry,
            "search_duration_seconds",
            "Keyword searches, from the request to the ranked hits",
            latency_histogram(),
        );
        let payment_calls = register(
            &mut registry,
            "payment_provider_calls",
            "Calls to the payment provider by outcome (ok, refused, error, breaker_open)",
            Family::<OutcomeLabels, Counter>::default(),
        );
        let payment_breaker_open = register(
            &mut registry,
            "payment_breaker_open",
            "1 while the payment provider's circuit breaker is open",
            Gauge::default(),
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
            read_snapshots,
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
            graphql_direct_answers,
            graphql_direct_fallbacks,
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
