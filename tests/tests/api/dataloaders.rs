//! A nested catalog query costs a constant number of SQL statements, whatever the page size:
//! every relation goes through a dataloader.

use curtain_tests::fixtures::{
    add_cast, create_cast_member, create_performance, create_session, create_venue, day, small_layout,
};
use curtain_tests::{TestApp, backend_tests, data};
use serde_json::json;

backend_tests!(
    nested_catalog_queries_cost_the_same_statements_for_5_or_20_performances,
    reservation_and_audit_pages_cost_the_same_statements_for_2_or_8_rows,
);

const NESTED: &str = "query($first: Int) { performances(first: $first) { edges { node {
    title venue { name } cast { role castMember { name } }
    sessions { startsAt availableSeatCount } priceTiers { grade price }
} } } }";

async fn statements_for(app: &TestApp, first: i64) -> (f64, usize) {
    let before = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
    let response = app.gql(NESTED, json!({ "first": first })).await;
    let after = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
    let edges = data(&response)["performances"]["edges"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    (after - before, edges)
}

async fn nested_catalog_queries_cost_the_same_statements_for_5_or_20_performances(app: &TestApp) {
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
    for i in 0..20 {
        let performance = create_performance(app, &venues[i % 2], &format!("Show {i}"), &start, &end).await;
        add_cast(app, &performance, &members[0], "주연").await;
        add_cast(app, &performance, &members[1], "조연").await;
        create_session(app, &performance, &day(1).1).await;
        create_session(app, &performance, &day(2).1).await;
    }

    let (small, edges) = statements_for(app, 5).await;
    assert_eq!(edges, 5);
    let (large, edges) = statements_for(app, 20).await;
    assert_eq!(edges, 20);
    assert!(small > 0.0, "statements are counted");
    assert_eq!(small, large, "statements per request must not grow with the page size");
    // performances + venues + cast + cast members + sessions + price tiers
    assert!(large <= 6.0, "{large} statements for one nested query");
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
