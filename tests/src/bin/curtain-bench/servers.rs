//! The servers the in-process benchmarks run against, each on a fresh database with the
//! limits that would skew a benchmark out of the way.

use anyhow::{Context, bail};
use curtain_tests::{Backend, TestApp};

/// A server on a fresh database, with log-in limits out of the way.
pub(super) async fn bench_server(backend: Backend) -> anyhow::Result<TestApp> {
    bench_server_with(backend, None, false).await
}

/// A server for P4: on PostgreSQL, with Redis when there are two instances (the second
/// joining `sibling_of`), encoding per subscriber with `own_encoding`.
pub(super) async fn fanout_server(
    redis: bool,
    own_encoding: bool,
    sibling_of: Option<&TestApp>,
) -> anyhow::Result<TestApp> {
    if std::env::var("CURTAIN_TEST_DATABASE_URL").is_err() {
        bail!("set CURTAIN_TEST_DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres");
    }
    if redis && curtain_tests::redis_url().is_none() {
        bail!("two instances talk through Redis: set CURTAIN_TEST_REDIS_URL, e.g. redis://127.0.0.1:6379");
    }
    let configure: fn(&mut curtain::config::Settings) = if own_encoding {
        |settings| {
            settings.websocket.sockets_per_ip = 0;
            settings.websocket.shared_encoding = false;
        }
    } else {
        |settings| settings.websocket.sockets_per_ip = 0
    };
    let (builder, missing) = match sibling_of {
        Some(first) => (first.sibling(), "the second instance"),
        None => (TestApp::builder(Backend::Postgres), "no PostgreSQL"),
    };
    let mut builder = builder.rate_limit_per_minute(1_000_000).configure(configure);
    if redis {
        builder = builder.redis();
    }
    builder.spawn().await.context(missing)
}

/// [`bench_server`] for P1 (`holds`), with `booking.hold_batch_max` set when given.
pub(super) async fn bench_server_with(
    backend: Backend,
    hold_batch_max: Option<usize>,
    holds: bool,
) -> anyhow::Result<TestApp> {
    if backend == Backend::Postgres && std::env::var("CURTAIN_TEST_DATABASE_URL").is_err() {
        bail!("set CURTAIN_TEST_DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres");
    }
    let mut builder = TestApp::builder(backend)
        .rate_limit_per_minute(1_000_000)
        // Every fan-out subscriber comes from this machine's one address.
        .configure(|settings| settings.websocket.sockets_per_ip = 0);
    if let Some(batch) = hold_batch_max {
        builder = builder.hold_batch_max(batch);
    }
    if holds {
        // P1 measures holds: a rush with more requests in flight than the server serves
        // at once (256 per core) would measure its 503s instead.
        builder = builder.configure(|settings| settings.server.max_in_flight_requests = Some(8_192));
    }
    builder.spawn().await.context("no PostgreSQL")
}
