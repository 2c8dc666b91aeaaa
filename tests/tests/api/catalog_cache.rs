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

    data(
        &app.admin(
            "mutation($id: ID!) { updatePerformance(id: $id, input: { title: \"새 제목\" }) { id } }",
            json!({ "id": performance }),
        )
        .await,
    );
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

const LIST_PAGE: &str =
    "{ performances(first: 5) { edges { node { title venue { name } priceTiers { grade price } } } } }";
const STATEMENTS: &str = "curtain_db_statements_total";
const BY_REQUESTS: &str = "origin=\"request\"";

/// The list page's first (only) performance, and the statements the request made.
async fn listed(app: &TestApp) -> (serde_json::Value, f64) {
    let before = app.metric(STATEMENTS, BY_REQUESTS).await;
    let response = app.gql(LIST_PAGE, json!(null)).await;
    let statements = app.metric(STATEMENTS, BY_REQUESTS).await - before;
    (data(&response)["performances"]["edges"][0]["node"].clone(), statements)
}

/// What the list page shows of each performance (its venue, its price tiers) comes from the
/// cache with the rows, without a statement; a session write shows in the price tiers at once,
/// and a venue's new name.
async fn a_list_page_comes_whole_from_the_cache_and_session_writes_show_at_once(app: &TestApp) {
    let venue = fixtures::create_venue(app, "캐시홀", small_layout(2)).await;
    let performance = fixtures::create_performance(app, &venue, "가격 공연", &day(1).0, &day(9).0).await;
    settled(app, "가격 공연").await;
    let (node, _) = listed(app).await;
    assert_eq!(
        node,
        json!({ "title": "가격 공연", "venue": { "name": "캐시홀" }, "priceTiers": [] })
    );

    let session = fixtures::create_session(app, &performance, &day(3).1).await;
    let tiers = json!([{ "grade": "VIP", "price": 150000 }, { "grade": "R", "price": 100000 }]);
    let (node, _) = listed(app).await;
    assert_eq!(node["priceTiers"], tiers, "a new session's prices show at once");
    let (again, first) = listed(app).await;
    let (third, second) = listed(app).await;
    assert_eq!((&again, &third), (&node, &node));
    assert!(
        first == 0.0 || second == 0.0,
        "a cached list page with venues and price tiers makes no statement: {first}, {second}"
    );

    let new_prices = "mutation($id: ID!) { updateSession(id: $id, input: { prices: [{ grade: \"VIP\", price: 150000 }, { grade: \"R\", price: 90000 }] }) { id } }";
    data(&app.admin(new_prices, json!({ "id": session })).await);
    let (node, _) = listed(app).await;
    assert_eq!(
        node["priceTiers"],
        json!([{ "grade": "VIP", "price": 150000 }, { "grade": "R", "price": 90000 }]),
        "a session's new prices show at once"
    );

    data(
        &app.admin(
            "mutation($id: ID!) { deleteSession(id: $id) }",
            json!({ "id": session }),
        )
        .await,
    );
    assert_eq!(
        listed(app).await.0["priceTiers"],
        json!([]),
        "a deleted session's prices go at once"
    );

    data(
        &app.admin(
            "mutation($id: ID!) { updateVenue(id: $id, input: { name: \"새 캐시홀\" }) { id } }",
            json!({ "id": venue }),
        )
        .await,
    );
    assert_eq!(
        listed(app).await.0["venue"],
        json!({ "name": "새 캐시홀" }),
        "a venue's new name shows at once"
    );
    // And stays once the venue's catalog event is applied (which invalidates again).
    let indexed = |hits: &[String]| hits.iter().any(|hit| hit == "Venue:새 캐시홀");
    let found = eventually(app, "새 캐시홀", indexed).await;
    assert!(indexed(&found), "the renamed venue is indexed: {found:?}");
    assert_eq!(listed(app).await.0["venue"], json!({ "name": "새 캐시홀" }));
}

/// Requests that miss the same entry together make one load between them: the others wait
/// for it and are served what it stored.
async fn requests_that_miss_together_share_one_load(app: &TestApp) {
    let venue = fixtures::create_venue(app, "캐시홀", small_layout(2)).await;
    fixtures::create_performance(app, &venue, "몰린 공연", &day(1).0, &day(9).0).await;
    settled(app, "몰린 공연").await;
    let misses = app.metric(METRIC, MISS).await;
    let hits = app.metric(METRIC, HIT).await;
    let pages = futures::future::join_all((0..20).map(|_| first_page(app))).await;
    assert!(pages.iter().all(|page| page == &["몰린 공연"]), "{pages:?}");
    let loads = app.metric(METRIC, MISS).await - misses;
    // Two at most: the write's event may be applied once more meanwhile (see `settled`).
    assert!(
        (1.0..=2.0).contains(&loads),
        "20 requests missing the first page at once made {loads} loads"
    );
    assert_eq!(
        app.metric(METRIC, HIT).await - hits + loads,
        20.0,
        "every request is counted once"
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

backend_tests!(
    performance_reads_come_from_the_cache_until_a_write,
    a_list_page_comes_whole_from_the_cache_and_session_writes_show_at_once,
    requests_that_miss_together_share_one_load
);
