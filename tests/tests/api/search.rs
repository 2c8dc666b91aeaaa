//! Keyword search: freshness after catalog writes, rebuilding while searching, the result
//! cache, and odd input (matching itself is in `search_matching`).

use std::time::{Duration, Instant};

use curtain_tests::fixtures::{self, day, small_layout};
use curtain_tests::{Backend, TestApp, backend_tests, data, error_code};
use serde_json::{Value, json};

pub(crate) const SEARCH: &str =
    "query($q: String!, $kinds: [SearchKind!], $filter: SearchFilter, $first: Int, $after: String) {
  search(query: $q, kinds: $kinds, filter: $filter, first: $first, after: $after) {
    totalCount
    facets { genre { value count } kind { value count } }
    pageInfo { hasNextPage endCursor }
    edges { cursor score highlights { field snippet } node {
      __typename
      ... on Performance { id title }
      ... on CastMember { id name }
      ... on Venue { id name }
    } }
  }
}";

pub(crate) async fn search(app: &TestApp, query: &str) -> Value {
    search_with(app, json!({ "q": query })).await
}

pub(crate) async fn search_with(app: &TestApp, variables: Value) -> Value {
    let response = app.gql(SEARCH, variables).await;
    data(&response)["search"].clone()
}

/// `Type:title-or-name` of every hit, best first.
pub(crate) fn hits(results: &Value) -> Vec<String> {
    results["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            let node = &edge["node"];
            let text = node["title"].as_str().or(node["name"].as_str()).unwrap_or_default();
            format!("{}:{text}", node["__typename"].as_str().unwrap_or_default())
        })
        .collect()
}

/// Searches until `done` holds for the hits, for up to two seconds.
pub(crate) async fn eventually(app: &TestApp, query: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let started = Instant::now();
    loop {
        let found = hits(&search(app, query).await);
        if done(&found) || started.elapsed() > Duration::from_secs(2) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Searches for a page of `first` hits until `done` holds for them, for up to ten seconds.
pub(crate) async fn eventually_with(
    app: &TestApp,
    query: &str,
    first: i64,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let started = Instant::now();
    loop {
        let found = hits(&search_with(app, json!({ "q": query, "first": first })).await);
        if done(&found) || started.elapsed() > Duration::from_secs(10) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn with_demo(backend: Backend) -> Option<TestApp> {
    TestApp::builder(backend).demo().spawn().await
}

async fn catalog_writes_reach_search_within_a_second_or_two(app: &TestApp) {
    let venue = fixtures::create_venue(app, "세종 별빛홀", small_layout(4)).await;
    let (start, _) = day(1);
    let (end, _) = day(30);
    let performance = fixtures::create_performance(app, &venue, "빛의 정원", &start, &end).await;
    let created = Instant::now();
    let found = eventually(app, "정원", |h| h.contains(&"Performance:빛의 정원".to_string())).await;
    assert!(found.contains(&"Performance:빛의 정원".to_string()), "{found:?}");
    assert!(
        created.elapsed() < Duration::from_secs(1),
        "searchable within a second, took {:?}",
        created.elapsed()
    );

    let renamed = app
        .admin(
            "mutation($id: ID!) { updatePerformance(id: $id, input: { title: \"달의 정원\" }) { id } }",
            json!({ "id": performance }),
        )
        .await;
    data(&renamed);
    let found = eventually(app, "정원", |h| h == ["Performance:달의 정원"]).await;
    assert_eq!(found, vec!["Performance:달의 정원"], "the old title is gone");

    let member = fixtures::create_cast_member(app, "도윤슬기").await;
    fixtures::add_cast(app, &performance, &member, "정원사").await;
    let found = eventually(app, "윤슬기", |h| h.len() == 2).await;
    assert_eq!(
        found,
        vec!["CastMember:도윤슬기", "Performance:달의 정원"],
        "found by its cast"
    );

    let moved = app
        .admin(
            "mutation($id: ID!) { updateVenue(id: $id, input: { name: \"세종 달빛홀\" }) { id } }",
            json!({ "id": venue }),
        )
        .await;
    data(&moved);
    let found = eventually(app, "달빛홀", |h| h.len() == 2).await;
    assert_eq!(
        found,
        vec!["Venue:세종 달빛홀", "Performance:달의 정원"],
        "found by its venue's new name"
    );

    let role = app
        .gql(
            "query($id: ID!) { performance(id: $id) { cast { id } } }",
            json!({ "id": performance }),
        )
        .await;
    let role = data(&role)["performance"]["cast"][0]["id"].clone();
    data(
        &app.admin(
            "mutation($id: ID!) { removePerformanceCast(id: $id) }",
            json!({ "id": role }),
        )
        .await,
    );
    data(
        &app.admin(
            "mutation($id: ID!) { deletePerformance(id: $id) }",
            json!({ "id": performance }),
        )
        .await,
    );
    let found = eventually(app, "정원", |h| h.is_empty()).await;
    assert!(found.is_empty(), "a deleted performance disappears: {found:?}");
    data(
        &app.admin(
            "mutation($id: ID!) { deleteCastMember(id: $id) }",
            json!({ "id": member }),
        )
        .await,
    );
    let found = eventually(app, "윤슬기", |h| h.is_empty()).await;
    assert!(found.is_empty(), "a deleted cast member disappears: {found:?}");
}

async fn identical_searches_come_from_the_cache_until_the_catalog_changes(app: &TestApp) {
    let (hit, miss) = ("cache=\"search\",outcome=\"hit\"", "cache=\"search\",outcome=\"miss\"");
    let metric = "curtain_cache_requests_total";
    let misses = app.metric(metric, miss).await;
    let first = search(app, "캐시 시험").await;
    assert_eq!(app.metric(metric, miss).await, misses + 1.0);
    let hits_before = app.metric(metric, hit).await;
    let again = search(app, "캐시 시험").await;
    assert_eq!(
        app.metric(metric, hit).await,
        hits_before + 1.0,
        "the same search is served from the cache"
    );
    assert_eq!(first, again);

    fixtures::create_cast_member(app, "캐시 시험배우").await;
    let found = eventually(app, "시험배우", |h| !h.is_empty()).await;
    assert_eq!(found, vec!["CastMember:캐시 시험배우"]);
    let (hits_before, misses) = (app.metric(metric, hit).await, app.metric(metric, miss).await);
    let after_write = search(app, "캐시 시험").await;
    assert_eq!(
        app.metric(metric, hit).await,
        hits_before,
        "a changed index is not answered from the cache"
    );
    assert_eq!(app.metric(metric, miss).await, misses + 1.0);
    assert_eq!(hits(&after_write), vec!["CastMember:캐시 시험배우"]);
}

async fn odd_input_is_plain_text_and_blank_input_is_refused(app: &TestApp) {
    // NUL is refused in any text, before any resolver runs (see the Security section).
    for blank in ["", "   ", "\t\n", "\u{0}\u{7}"] {
        let response = app.gql(SEARCH, json!({ "q": blank })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{blank:?}");
    }
    let long = "가나다라마바사 ".repeat(125);
    let odd = [
        long.as_str(),
        "\"",
        ":",
        "*",
        "(",
        "title:(레미 OR \"유령\")*",
        "🎭🎟️",
        "\u{7}\u{1b}[31m",
        "ㄱ",
        "-",
    ];
    for query in odd {
        let response = app.gql(SEARCH, json!({ "q": query })).await;
        assert!(response.get("errors").is_none(), "{query:?} gave {response:#}");
        let suggestions = app
            .gql("query($p: String!) { suggest(prefix: $p) }", json!({ "p": query }))
            .await;
        assert!(suggestions.get("errors").is_none(), "{query:?} gave {suggestions:#}");
    }
    let response = app.gql(SEARCH, json!({ "q": "x", "first": -1 })).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
}

backend_tests!(
    catalog_writes_reach_search_within_a_second_or_two,
    identical_searches_come_from_the_cache_until_the_catalog_changes,
    odd_input_is_plain_text_and_blank_input_is_refused,
);

async fn a_rebuild_swaps_in_while_searches_go_on(app: &TestApp) {
    let searching = {
        let (client, url) = (app.client.clone(), app.url("/graphql"));
        tokio::spawn(async move {
            let mut answered = 0;
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(1500) {
                let response: Value = client
                    .post(&url)
                    .json(&json!({ "query": SEARCH, "variables": { "q": "레미제라블" } }))
                    .send()
                    .await
                    .expect("sent")
                    .json()
                    .await
                    .expect("JSON");
                let first = &response["data"]["search"]["edges"][0]["node"]["title"];
                assert_eq!(
                    first, "레미제라블",
                    "every search during the rebuild is answered: {response}"
                );
                answered += 1;
            }
            answered
        })
    };
    for _ in 0..3 {
        let indexed = app
            .state
            .search
            .rebuild(&curtain::jobs::NoProgress)
            .await
            .expect("the rebuild succeeds");
        assert_eq!(indexed, 20 + 30 + 3, "every performance, cast member and venue");
    }
    assert!(searching.await.expect("searcher") > 0);

    let venue = fixtures::create_venue(app, "재건축 극장", small_layout(2)).await;
    let found = eventually(app, "재건축", |h| !h.is_empty()).await;
    assert_eq!(
        found,
        vec!["Venue:재건축 극장"],
        "the new index follows the catalog: {venue}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_rebuild_swaps_in_while_searches_go_on() {
    let app = with_demo(Backend::Sqlite).await.expect("SQLite");
    a_rebuild_swaps_in_while_searches_go_on(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_rebuild_swaps_in_while_searches_go_on() {
    if let Some(app) = with_demo(Backend::Postgres).await {
        a_rebuild_swaps_in_while_searches_go_on(&app).await;
        app.stop().await;
    }
}
