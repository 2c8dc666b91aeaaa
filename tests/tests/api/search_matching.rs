//! Keyword search matches what a Korean buyer types, over the demo catalog: fragments,
//! initial consonants, cast names, Latin with accents and typos; and narrows by kind, region
//! and page; ranks title matches and current runs first.

use curtain_tests::fixtures::{self, day, small_layout};
use curtain_tests::{Backend, TestApp, backend_tests, data, error_code};
use serde_json::{Value, json};

use crate::search::{SEARCH, eventually, hits, search, search_with, with_demo};

async fn korean_buyers_find_what_they_type(app: &TestApp) {
    let fragment = hits(&search(app, "미제라").await);
    assert_eq!(
        fragment.first().map(String::as_str),
        Some("Performance:레미제라블"),
        "{fragment:?}"
    );

    let initials = hits(&search(app, "ㄹㅁㅈㄹㅂ").await);
    assert_eq!(
        initials.first().map(String::as_str),
        Some("Performance:레미제라블"),
        "{initials:?}"
    );

    let actor = search(app, "승우").await;
    let found = hits(&actor);
    assert_eq!(
        found.first().map(String::as_str),
        Some("CastMember:조승우"),
        "the person before their shows: {found:?}"
    );
    for title in ["Performance:레미제라블", "Performance:지킬 앤 하이드"] {
        assert!(found.contains(&title.to_string()), "{title} stars 조승우: {found:?}");
    }
    assert_eq!(actor["totalCount"], 3, "{found:?}");
    let kinds = &actor["facets"]["kind"];
    assert!(
        kinds
            .as_array()
            .is_some_and(|k| k.contains(&json!({ "value": "PERFORMANCE", "count": 2 }))),
        "{kinds}"
    );
    let snippet = actor["edges"][0]["highlights"][0].clone();
    assert_eq!(snippet, json!({ "field": "name", "snippet": "조<em>승우</em>" }));

    let typo = hits(&search(app, "phantm").await);
    assert_eq!(
        typo.first().map(String::as_str),
        Some("Performance:오페라의 유령"),
        "{typo:?}"
    );
    let accents = hits(&search(app, "miserables").await);
    assert_eq!(
        accents.first().map(String::as_str),
        Some("Performance:레미제라블"),
        "{accents:?}"
    );
}

async fn filters_kinds_and_pages_narrow_a_search(app: &TestApp) {
    let venues = search_with(app, json!({ "q": "커튼", "kinds": ["VENUE"] })).await;
    assert_eq!(hits(&venues), vec!["Venue:커튼 그랜드씨어터"]);

    let busan = search_with(app, json!({ "q": "콘서트", "filter": { "region": "부산" } })).await;
    let found = hits(&busan);
    assert!(
        !found.is_empty() && found.iter().all(|h| h.starts_with("Performance:")),
        "{found:?}"
    );
    assert!(
        found.iter().all(|h| !h.contains("커튼콜")),
        "the gala is in 서울: {found:?}"
    );
    let genres = busan["facets"]["genre"].as_array().expect("genre facet").clone();
    assert_eq!(genres, vec![json!({ "value": "CONCERT", "count": found.len() })]);

    let query = json!({ "q": "그랜드씨어터", "kinds": ["PERFORMANCE"], "first": 3 });
    let first = search_with(app, query.clone()).await;
    assert!(first["totalCount"].as_i64() > Some(3));
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let mut next = query.clone();
    next["after"] = first["pageInfo"]["endCursor"].clone();
    let second = search_with(app, next).await;
    let (a, b) = (hits(&first), hits(&second));
    assert_eq!(b.len(), 3);
    assert!(
        b.iter().all(|hit| !a.contains(hit)),
        "pages do not overlap: {a:?} {b:?}"
    );

    let mut foreign = json!({ "q": "레미제라블" });
    foreign["after"] = first["pageInfo"]["endCursor"].clone();
    assert_eq!(
        error_code(&app.gql(SEARCH, foreign).await),
        "BAD_USER_INPUT",
        "a cursor of another search"
    );

    let suggestions = app.gql("{ suggest(prefix: \"레미\") }", Value::Null).await;
    assert_eq!(data(&suggestions)["suggest"], json!(["레미제라블"]));
    let blank = app.gql("{ suggest(prefix: \"  \") }", Value::Null).await;
    assert_eq!(data(&blank)["suggest"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_korean_buyers_find_what_they_type() {
    let app = with_demo(Backend::Sqlite).await.expect("SQLite");
    korean_buyers_find_what_they_type(&app).await;
    filters_kinds_and_pages_narrow_a_search(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_korean_buyers_find_what_they_type() {
    if let Some(app) = with_demo(Backend::Postgres).await {
        korean_buyers_find_what_they_type(&app).await;
        filters_kinds_and_pages_narrow_a_search(&app).await;
        app.stop().await;
    }
}

async fn title_matches_and_current_runs_rank_first(app: &TestApp) {
    let hall = fixtures::create_venue(app, "노래극장", small_layout(2)).await;
    let namesake = fixtures::create_venue(app, "별의 노래 극장", small_layout(2)).await;
    fixtures::create_performance(app, &hall, "별의 노래", &day(-40).0, &day(-2).0).await;
    fixtures::create_performance(app, &hall, "별의 노래 앙코르", &day(-1).0, &day(20).0).await;
    fixtures::create_performance(app, &namesake, "한밤의 축제", &day(1).0, &day(20).0).await;
    let found = eventually(app, "별의 노래", |h| h.len() == 4).await;
    let rank = |hit: &str| found.iter().position(|h| h == hit).unwrap_or(usize::MAX);
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        rank("Performance:별의 노래 앙코르") < rank("Performance:별의 노래"),
        "a run that ended ranks below a current one: {found:?}"
    );
    assert!(
        rank("Performance:별의 노래 앙코르") < rank("Performance:한밤의 축제"),
        "a title match ranks above a venue-name match: {found:?}"
    );

    let current = search_with(app, json!({ "q": "별의 노래", "filter": { "from": day(0).0 } })).await;
    let found = hits(&current);
    assert!(!found.contains(&"Performance:별의 노래".to_string()), "{found:?}");
    assert!(
        found.iter().all(|h| h.starts_with("Performance:")),
        "dates keep performances only: {found:?}"
    );
    let concerts = search_with(app, json!({ "q": "별의 노래", "filter": { "genre": "CONCERT" } })).await;
    assert_eq!(concerts["totalCount"], 0);
}

backend_tests!(title_matches_and_current_runs_rank_first);
