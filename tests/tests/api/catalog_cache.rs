//! Hot catalog reads come from the cache, and a write is visible on the next read.

use curtain_tests::fixtures::{self, day, small_layout};
use curtain_tests::{TestApp, backend_tests, data};
use serde_json::json;

use crate::search::eventually;

const HIT: &str = "cache=\"catalog\",outcome=\"hit\"";
const MISS: &str = "cache=\"catalog\",outcome=\"miss\"";
const METRIC: &str = "curtain_cache_requests_total";

async fn first_page(app: &TestApp) -> Vec<String> {
    let response = app
        .gql("{ performances(first: 5) { edges { node { title } } } }", json!(null))
        .await;
    data(&response)["performances"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["title"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

async fn performance_reads_come_from_the_cache_until_a_write(app: &TestApp) {
    let venue = fixtures::create_venue(app, "캐시홀", small_layout(2)).await;
    let performance = fixtures::create_performance(app, &venue, "첫 제목", &day(1).0, &day(9).0).await;
    settled(app, "첫 제목").await;

    assert_eq!(fixtures::performance_title(app, &performance).await, "첫 제목");
    let hits = app.metric(METRIC, HIT).await;
    assert_eq!(fixtures::performance_title(app, &performance).await, "첫 제목");
    assert_eq!(fixtures::performance_title(app, &performance).await, "첫 제목");
    assert!(
        app.metric(METRIC, HIT).await >= hits + 1.0,
        "repeated reads are cache hits"
    );

    let renamed = app
        .admin(
            "mutation($id: ID!) { updatePerformance(id: $id, input: { title: \"새 제목\" }) { id } }",
            json!({ "id": performance }),
        )
        .await;
    data(&renamed);
    let misses = app.metric(METRIC, MISS).await;
    assert_eq!(
        fixtures::performance_title(app, &performance).await,
        "새 제목",
        "the writer reads its own write"
    );
    assert!(app.metric(METRIC, MISS).await > misses);
    settled(app, "새 제목").await;

    assert_eq!(first_page(app).await, vec!["새 제목"]);
    let hits = app.metric(METRIC, HIT).await;
    assert_eq!(first_page(app).await, vec!["새 제목"]);
    assert_eq!(first_page(app).await, vec!["새 제목"]);
    assert!(
        app.metric(METRIC, HIT).await >= hits + 1.0,
        "a first page is served from the cache"
    );
    fixtures::create_performance(app, &venue, "둘째 공연", &day(2).0, &day(9).0).await;
    assert_eq!(
        first_page(app).await,
        vec!["새 제목", "둘째 공연"],
        "a new performance shows at once"
    );
}

/// Waits until this instance has applied the catalog event of the last write, which
/// invalidates the cache once more; counting hits before then would race with it.
///
/// An event can still be applied a second time after this (the outbox timer may read a row
/// before the relay publishes it, and applying is idempotent), which invalidates once more;
/// that is why the reads above are repeated and at least one of each pair must hit.
async fn settled(app: &TestApp, title: &str) {
    let wanted = format!("Performance:{title}");
    let found = eventually(app, title, |h| h.contains(&wanted)).await;
    assert!(found.contains(&wanted), "{found:?}");
}

backend_tests!(performance_reads_come_from_the_cache_until_a_write);
