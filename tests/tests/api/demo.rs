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
