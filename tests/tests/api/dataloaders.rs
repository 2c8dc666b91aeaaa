//! A nested catalog query costs a constant number of SQL statements, whatever the page size:
//! every relation goes through a dataloader.

use curtain_tests::fixtures::{
    add_cast, create_cast_member, create_performance, create_session, create_venue, day, small_layout,
};
use curtain_tests::{TestApp, backend_tests, data};
use serde_json::json;

backend_tests!(
    nested_catalog_queries_cost_the_same_statements_at_any_page_size,
    reservation_and_audit_pages_cost_the_same_statements_for_2_or_8_rows,
);

/// P2's shape (benchmarks P2, `curtain-bench reads`), and more of the catalog beside it.
const NESTED: &str = "query($first: Int) { performances(first: $first) { edges { node {
    title venue { name } cast { role castMember { name } }
    sessions { startsAt availableSeatCount } priceTiers { grade price }
} } } }";

/// P2's shape as the executor answers it: an argument below the root (`to: null`, the same
/// window as none) is beyond the direct writer (`graphql::direct`).
const NESTED_EXECUTED: &str = "query($first: Int) { performances(first: $first) { edges { node {
    title venue { name } cast { role castMember { name } }
    sessions(to: null) { startsAt availableSeatCount } priceTiers { grade price }
} } } }";

/// Every session's waiting room and waitlist, as a page of on-sale sessions shows them.
const SESSIONS: &str = "query($first: Int) { performances(first: $first) { edges { node {
    sessions { id saleState waitingRoom { enabled } waitlistLength }
} } } }";

/// Search hits, each with its relations.
const HITS: &str = "query($first: Int) { search(query: \"Show\", first: $first) { edges { node {
    ... on Performance { title venue { name } cast { castMember { name } } sessions { startsAt } }
} } } }";

/// Statements the request ran, and the length of its list; its reads must have shared one
/// snapshot: one read-only transaction (`snapshots` 1), or one statement (0: the direct
/// writer reads the page's relations in one).
async fn statements_for(app: &TestApp, query: &str, first: i64, list: &str, snapshots: f64) -> (f64, usize) {
    let before = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
    let begun = app.metric("curtain_db_read_snapshots_total", "").await;
    let response = app.gql(query, json!({ "first": first })).await;
    let after = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
    assert_eq!(
        app.metric("curtain_db_read_snapshots_total", "").await - begun,
        snapshots,
        "one snapshot for the whole query"
    );
    let edges = data(&response)[list]["edges"].as_array().map(Vec::len).unwrap_or(0);
    (after - before, edges)
}

/// The same statements at page 5, 20, 50 and 100, for each shape.
async fn nested_catalog_queries_cost_the_same_statements_at_any_page_size(app: &TestApp) {
    let (start, _) = day(0);
    let (end, _) = day(30);
    let venues = [
        create_venue(app, "A hall", small_layout(3)).await,
        create_venue(app, "B hall", small_layout(3)).await,
    ];
    let members = [
        create_cast_member(app, "배우 하나").await,
        create_cast_member(app, "배우 둘").await,
    ];
    for i in 0..100 {
        let performance = create_performance(app, &venues[i % 2], &format!("Show {i}"), &start, &end).await;
        add_cast(app, &performance, &members[0], "주연").await;
        add_cast(app, &performance, &members[1], "조연").await;
        create_session(app, &performance, &day(1).1).await;
        create_session(app, &performance, &day(2).1).await;
    }
    let indexed = |hits: &[String]| hits.len() >= 100;
    crate::search::eventually_with(app, "Show", 100, indexed).await;

    // The direct writer answers a document once the executor has answered it without error.
    let direct = app.metric("curtain_graphql_direct_answers_total", "").await;
    for _ in 0..2 {
        app.gql(NESTED, json!({ "first": 1 })).await;
    }
    assert!(
        app.metric("curtain_graphql_direct_answers_total", "").await - direct >= 1.0,
        "P2's document is answered directly from its second time"
    );
    for (name, query, list, most, snapshots) in [
        // the page with its venues and price tiers (from the catalog cache on a hit) + one
        // statement for the cast, their members and the sessions
        ("P2, written directly", NESTED, "performances", 4.0, 0.0),
        // performances + venues + price tiers + cast + cast members + sessions
        ("P2, executed", NESTED_EXECUTED, "performances", 6.0, 1.0),
        // performances + sessions + waiting rooms + waitlists
        ("sessions", SESSIONS, "performances", 4.0, 1.0),
        // performances + venues + cast + cast members + sessions (the hits come from the index)
        ("search hits", HITS, "search", 5.0, 1.0),
    ] {
        let mut counts = Vec::new();
        for first in [5, 20, 50, 100] {
            let (statements, edges) = statements_for(app, query, first, list, snapshots).await;
            assert_eq!(edges, first as usize, "{name}: page of {first}");
            counts.push(statements);
        }
        assert!(counts[0] > 0.0, "{name}: statements are counted");
        assert!(
            counts.iter().all(|&n| n == counts[0]),
            "{name}: statements per request must not grow with the page size: {counts:?} at 5, 20, 50, 100"
        );
        assert!(
            counts[0] <= most,
            "{name}: {} statements for one nested query",
            counts[0]
        );
    }

    // Seat maps are read whole (seats and prices, whatever is selected), so the cost check
    // allows only a few in one query (a page of sessions' seat maps is refused as too
    // complex); those few are read together.
    let sessions = app.gql(SESSIONS, json!({ "first": 8 })).await;
    let ids: Vec<String> = data(&sessions)["performances"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            edge["node"]["sessions"][0]["id"]
                .as_str()
                .expect("a session")
                .to_string()
        })
        .collect();
    let mut counts = Vec::new();
    for maps in [2, 8] {
        let fields: String = ids[..maps]
            .iter()
            .enumerate()
            .map(|(i, id)| format!(" m{i}: seatMap(sessionId: \"{id}\") {{ version availableCount }}"))
            .collect();
        let before = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
        let response = app.gql(&format!("{{{fields} }}"), json!({})).await;
        let after = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
        assert_eq!(
            data(&response)["m1"]["availableCount"],
            9,
            "a seat map of three rows of three"
        );
        counts.push(after - before);
    }
    assert_eq!(counts[0], counts[1], "seat maps: 2 or 8 cost the same statements");
    // seats + prices
    assert!(counts[0] <= 2.0, "{} statements for 8 seat maps", counts[0]);
}

async fn statements_of(app: &TestApp, query: &str, first: i64, list: &str) -> (f64, usize) {
    let before = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
    let response = app.admin(query, json!({ "first": first })).await;
    let after = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
    let rows = data(&response)[list]["edges"].as_array().map(Vec::len).unwrap_or(0);
    (after - before, rows)
}

/// A reservation's seats and buyer, and an audit entry's actor, are loaded for the whole page
/// at once (they were read one row at a time).
async fn reservation_and_audit_pages_cost_the_same_statements_for_2_or_8_rows(app: &TestApp) {
    use curtain_tests::fixtures::{hold, one_row_session};
    let row = one_row_session(app, "묶음 읽기", 16).await;
    for n in 0..8 {
        let buyer = app.sign_up(&format!("batched-{n}@example.com")).await;
        let seats = [row.seats[2 * n].as_str(), row.seats[2 * n + 1].as_str()];
        hold(app, &buyer.access_token, &row.session, &seats, &format!("batched-{n}")).await;
    }
    const RESERVATIONS: &str = "query($first: Int) { adminReservations(first: $first) { edges { node {
        status seats { id grade price active } buyer { email } session { id } } } } }";
    let (small, rows) = statements_of(app, RESERVATIONS, 2, "adminReservations").await;
    assert_eq!(rows, 2);
    let (large, rows) = statements_of(app, RESERVATIONS, 8, "adminReservations").await;
    assert_eq!(rows, 8);
    assert_eq!(
        small, large,
        "reservation pages: statements must not grow with the page size"
    );

    const AUDIT: &str = "query($first: Int) { auditLog(first: $first) { edges { node { action actor { email } } } } }";
    let (small, rows) = statements_of(app, AUDIT, 2, "auditLog").await;
    assert_eq!(rows, 2);
    let (large, rows) = statements_of(app, AUDIT, 8, "auditLog").await;
    assert!(rows >= 3, "enough audit entries: {rows}");
    assert_eq!(small, large, "audit pages: statements must not grow with the page size");
}
