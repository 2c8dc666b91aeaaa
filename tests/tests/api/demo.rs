//! A fresh start on an empty database loads the demo catalog.

use curtain_tests::scratch::ScratchDatabase;
use curtain_tests::{Backend, TestApp, data};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
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
        seat_rows_keep_their_foreign_keys(&app.db).await;
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
async fn seat_rows_keep_their_foreign_keys(db: &DatabaseConnection) {
    let keys: Vec<(String, String, bool)> = db
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
    let short: i64 = db
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
    let orphan = db
        .execute_unprepared(
            "INSERT INTO session_seats (session_id, seat_id, status, version)
             SELECT MIN(id), -1, 'AVAILABLE', 0 FROM sessions",
        )
        .await;
    assert!(orphan.is_err(), "a seat row naming no seat was accepted");
    let orphan = db
        .execute_unprepared(
            "INSERT INTO session_seats (session_id, seat_id, status, version)
             SELECT -1, MIN(id), 'AVAILABLE', 0 FROM seats",
        )
        .await;
    assert!(orphan.is_err(), "a seat row naming no session was accepted");
}

fn sql(text: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, text.to_string())
}

/// The object ids of `session_seats`' foreign keys: a key dropped and added back is a new
/// object with a new id.
async fn key_ids(db: &DatabaseConnection) -> Vec<i64> {
    db.query_all_raw(sql("SELECT oid::int8 FROM pg_constraint
         WHERE conrelid = 'session_seats'::regclass AND contype = 'f' ORDER BY conname"))
        .await
        .expect("the keys' ids")
        .iter()
        .map(|row| row.try_get_by_index(0).expect("an id"))
        .collect()
}

/// When the keys cannot be taken off in time (here a reader's open transaction holds a lock
/// on the table that dropping a key must wait for, longer than the seeding waits), the seat
/// rows are loaded with the keys in place, checked row by row: the very same keys stay (not
/// re-made ones), and every row is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_seeding_checks_row_by_row_when_the_keys_cannot_be_taken_off() {
    let Some(scratch) = ScratchDatabase::create(Backend::Postgres).await else {
        return;
    };
    let db = &scratch.db;
    Migrator::up(db, None).await.expect("migrate up");
    let before = key_ids(db).await;
    assert_eq!(before.len(), 2, "session_seats has two foreign keys");
    // A share lock: rows may be inserted, the table may not be altered until it goes.
    let reader = db.begin().await.expect("a reader's transaction");
    reader
        .execute_unprepared("SELECT 1 FROM session_seats LIMIT 1")
        .await
        .expect("read");
    curtain::demo::seed(db, &curtain::config::AuthSettings::default())
        .await
        .expect("seeded beside the reader");
    reader.rollback().await.expect("the reader ends");
    assert_eq!(
        key_ids(db).await,
        before,
        "the keys were taken off despite the reader's lock"
    );
    seat_rows_keep_their_foreign_keys(db).await;
}
