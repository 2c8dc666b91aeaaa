//! A fresh start on an empty database loads the demo catalog.

use curtain_tests::{Backend, TestApp, data};
use serde_json::{Value, json};

async fn the_demo_catalog_is_loaded_into_an_empty_database(app: &TestApp) {
    let response = app
        .gql(
            "{ venues(first: 100) { edges { node { name seatCount sections { name } } } }
               castMembers(first: 100) { edges { node { name } } }
               performances(first: 100) { edges { node { title englishTitle genre cast { role } sessions { id totalSeatCount availableSeatCount saleState } } } } }",
            Value::Null,
        )
        .await;
    let catalog = data(&response);
    let venues = catalog["venues"]["edges"].as_array().expect("venues");
    assert!(venues.len() >= 3);
    assert!(
        venues.iter().any(|v| v["node"]["seatCount"].as_i64() >= Some(1000)),
        "one venue has 1,000+ seats"
    );
    assert!(catalog["castMembers"]["edges"].as_array().map(Vec::len) >= Some(30));
    let performances = catalog["performances"]["edges"].as_array().expect("performances");
    assert!(performances.len() >= 20);
    assert!(
        performances
            .iter()
            .any(|p| p["node"]["title"] == "레미제라블" && p["node"]["englishTitle"] == "Les Misérables")
    );
    let genres: std::collections::HashSet<_> = performances.iter().map(|p| p["node"]["genre"].as_str()).collect();
    assert!(genres.len() >= 5, "{genres:?}");
    let mut partly_sold = Vec::new();
    for performance in performances {
        let sessions = performance["node"]["sessions"].as_array().expect("sessions");
        assert!(!sessions.is_empty(), "{} has sessions", performance["node"]["title"]);
        assert!(sessions.iter().all(|s| s["saleState"] == "ON_SALE"));
        partly_sold.extend(
            sessions
                .iter()
                .filter(|s| s["availableSeatCount"] != s["totalSeatCount"])
                .map(|s| {
                    (
                        s["id"].clone(),
                        s["totalSeatCount"].as_i64().unwrap_or(0) - s["availableSeatCount"].as_i64().unwrap_or(0),
                    )
                }),
        );
        assert!(!performance["node"]["cast"].as_array().is_none_or(Vec::is_empty));
    }
    // On SQLite (the embedded demo) one session has a paid booking of four seats, with
    // tickets for the door to scan; a PostgreSQL database gets the catalog alone.
    if app.backend == curtain_tests::Backend::Postgres {
        assert!(partly_sold.is_empty(), "{partly_sold:?}");
        seat_rows_keep_their_foreign_keys(app).await;
        return;
    }
    assert_eq!(partly_sold.len(), 1, "{partly_sold:?}");
    assert_eq!(partly_sold[0].1, 4);
    let door_session = curtain_tests::fixtures::database_id(partly_sold[0].0.as_str().expect("id"));
    let tickets = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::ticket::Entity::find()
            .filter(entity::ticket::Column::SessionId.eq(door_session))
            .all(&app.db)
            .await
            .expect("tickets")
    };
    assert_eq!(tickets.len(), 4);
    assert!(tickets.iter().all(|t| t.state == entity::TicketState::Valid));

    let session = &performances[0]["node"]["sessions"][0];
    let response = app
        .gql(
            "query($id: ID!) { seatMap(sessionId: $id) { seats { price } } }",
            json!({ "id": session["id"] }),
        )
        .await;
    let seats = data(&response)["seatMap"]["seats"].as_array().expect("seats").clone();
    assert_eq!(Some(seats.len() as i64), session["totalSeatCount"].as_i64());
    assert!(
        seats.iter().all(|s| s["price"].as_i64() > Some(0)),
        "every seat is priced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_demo_catalog_is_loaded_into_an_empty_database() {
    let app = TestApp::builder(Backend::Sqlite).demo().spawn().await.expect("SQLite");
    the_demo_catalog_is_loaded_into_an_empty_database(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_demo_catalog_is_loaded_into_an_empty_database() {
    if let Some(app) = TestApp::builder(Backend::Postgres).demo().spawn().await {
        the_demo_catalog_is_loaded_into_an_empty_database(&app).await;
        app.stop().await;
    }
}

/// On PostgreSQL the seeding takes the foreign keys of `session_seats` off for its bulk load
/// and adds them back: they must be there afterwards exactly as the migrations made them,
/// checked, and enforced, and every session must have a row per seat.
async fn seat_rows_keep_their_foreign_keys(app: &TestApp) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let sql = |text: &str| Statement::from_string(DbBackend::Postgres, text.to_string());
    let keys: Vec<(String, String, bool)> = app
        .db
        .query_all_raw(sql(
            "SELECT conname::text, pg_get_constraintdef(oid), convalidated FROM pg_constraint
             WHERE conrelid = 'session_seats'::regclass AND contype = 'f' ORDER BY conname",
        ))
        .await
        .expect("the keys")
        .iter()
        .map(|row| {
            (
                row.try_get_by_index(0).expect("name"),
                row.try_get_by_index(1).expect("definition"),
                row.try_get_by_index(2).expect("validated"),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            (
                "session_seats_seat_id_fkey".to_string(),
                "FOREIGN KEY (seat_id) REFERENCES seats(id) ON DELETE RESTRICT".to_string(),
                true
            ),
            (
                "session_seats_session_id_fkey".to_string(),
                "FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE".to_string(),
                true
            ),
        ]
    );
    let short: i64 = app
        .db
        .query_one_raw(sql(
            "SELECT COUNT(*) FROM sessions s
             WHERE total_seats <> (SELECT COUNT(*) FROM session_seats ss WHERE ss.session_id = s.id)",
        ))
        .await
        .expect("counted")
        .expect("a row")
        .try_get_by_index(0)
        .expect("a count");
    assert_eq!(short, 0, "sessions whose seat rows do not match their seat count");
    let orphan = app
        .db
        .execute_unprepared(
            "INSERT INTO session_seats (session_id, seat_id, status, version)
             SELECT MIN(id), -1, 'AVAILABLE', 0 FROM sessions",
        )
        .await;
    assert!(orphan.is_err(), "a seat row naming no seat was accepted");
    let orphan = app
        .db
        .execute_unprepared(
            "INSERT INTO session_seats (session_id, seat_id, status, version)
             SELECT -1, MIN(id), 'AVAILABLE', 0 FROM seats",
        )
        .await;
    assert!(orphan.is_err(), "a seat row naming no session was accepted");
}
