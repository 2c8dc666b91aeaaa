//! Group-committed holds: requests for one session that arrive together are applied in one
//! transaction, and each still gets exactly the answer it would have had alone — all or
//! nothing, its own reservation, version and seat-map delta, idempotent, within the buyer's
//! limits — on one instance or two.

use std::collections::{HashMap, HashSet};

use curtain_tests::fixtures;
use curtain_tests::{Backend, Session, TestApp, backend_tests, data, error_code};
use entity::outbox;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

backend_tests!(
    a_rush_is_combined_and_every_request_keeps_its_own_answer,
    retries_of_one_request_get_one_reservation,
);

const HOLD: &str = "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id seats { id } } }";
const MAP: &str = "query($s: ID!) { seatMap(sessionId: $s) { version availableCount seats { id status } } }";

async fn hold(app: &TestApp, buyer: &Session, session: &str, seats: &[&String], key: &str) -> Value {
    app.post(
        HOLD,
        json!({ "s": session, "seats": seats, "k": key }),
        Some(&buyer.access_token),
    )
    .await
}

/// Notes a successful hold's seats (each in one reservation only) and its reservation.
fn record_win(answer: &Value, owner: &mut HashMap<String, String>, held: &mut HashMap<String, Vec<String>>) {
    let reservation = &data(answer)["holdSeats"];
    let id = reservation["id"].as_str().expect("id").to_string();
    let mine: Vec<String> = reservation["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    for seat in &mine {
        assert!(
            owner.insert(seat.clone(), id.clone()).is_none(),
            "seat {seat} is in two reservations"
        );
    }
    assert!(held.insert(id, mine).is_none(), "a reservation per winner");
}

async fn sign_up_many(app: &TestApp, prefix: &str, count: usize) -> Vec<Session> {
    futures::future::join_all((0..count).map(|i| async move { app.sign_up(&format!("{prefix}{i}@example.com")).await }))
        .await
}

/// Requests applied by the combiner and the transactions they took, as its metrics count them.
async fn batches(app: &TestApp) -> (f64, f64) {
    (
        app.metric("curtain_hold_batch_size_sum", "").await,
        app.metric("curtain_hold_batch_size_count", "").await,
    )
}

/// The seat-map deltas recorded since `after` (an outbox id): consecutive versions from
/// `from`, each the seats of one reservation, HELD, with the counter going down by them.
async fn assert_one_delta_per_hold(app: &TestApp, from: i64, start_count: i64, held: &HashMap<String, Vec<String>>) {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Topic.eq("seat_map"))
        .order_by_asc(outbox::Column::Version)
        .all(&app.db)
        .await
        .expect("outbox");
    let rows: Vec<_> = rows.into_iter().filter(|r| r.version.unwrap_or(0) > from).collect();
    assert_eq!(rows.len(), held.len(), "one delta per successful hold");
    let mut count = start_count;
    let wanted: HashSet<Vec<i64>> = held
        .values()
        .map(|seats| {
            let mut ids: Vec<i64> = seats.iter().map(|id| fixtures::database_id(id)).collect();
            ids.sort_unstable();
            ids
        })
        .collect();
    let mut seen = HashSet::new();
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row.version, Some(from + n as i64 + 1), "versions are consecutive");
        let payload: Value = serde_json::from_str(&row.payload).expect("json");
        let changes = payload["changes"].as_array().expect("changes");
        assert!(changes.iter().all(|c| c["status"] == "HELD"), "{payload}");
        let mut ids: Vec<i64> = changes.iter().map(|c| c["seat_id"].as_i64().expect("id")).collect();
        ids.sort_unstable();
        count -= ids.len() as i64;
        assert_eq!(
            payload["available_count"].as_i64(),
            Some(count),
            "the counter after this hold"
        );
        assert!(wanted.contains(&ids), "a delta is one reservation's seats: {ids:?}");
        assert!(seen.insert(ids), "each reservation's delta once");
    }
}

async fn a_rush_is_combined_and_every_request_keeps_its_own_answer(app: &TestApp) {
    let row = fixtures::one_row_session(app, "Batch", 40).await;
    let (session, seats) = (row.session, row.seats);
    let buyers = sign_up_many(app, "batch", 60).await;
    let greedy = app.sign_up("greedy-batch@example.com").await;
    let (sum_before, count_before) = batches(app).await;

    // Buyer i wants seats i%39 and i%39+1 (pairs overlap, so most lose); the greedy buyer
    // sends six single-seat requests at once, into the same batches, and may get four.
    let pairs = buyers.iter().enumerate().map(|(i, buyer)| {
        let (session, pair) = (&session, [&seats[i % 39], &seats[i % 39 + 1]]);
        async move { (Some(pair), hold(app, buyer, session, &pair, &format!("b-{i}")).await) }
    });
    let singles = (0..6).map(|i| {
        let (session, seat, greedy) = (&session, &seats[39 - i], &greedy);
        async move { (None, hold(app, greedy, session, &[seat], &format!("g-{i}")).await) }
    });
    let (pairs, singles) =
        futures::future::join(futures::future::join_all(pairs), futures::future::join_all(singles)).await;

    let mut owner: HashMap<String, String> = HashMap::new();
    let mut held: HashMap<String, Vec<String>> = HashMap::new();
    for (pair, response) in pairs.iter().chain(&singles) {
        if response.get("errors").is_some() {
            match pair {
                Some(pair) => {
                    assert_eq!(error_code(response), "SEAT_UNAVAILABLE", "{response}");
                    let taken = response["errors"][0]["extensions"]["seatIds"]
                        .as_array()
                        .expect("seatIds");
                    assert!(!taken.is_empty() && taken.iter().all(|s| pair.iter().any(|p| s == p.as_str())));
                }
                None => assert!(
                    ["SEAT_UNAVAILABLE", "BAD_USER_INPUT"].contains(&error_code(response)),
                    "{response}"
                ),
            }
            continue;
        }
        record_win(response, &mut owner, &mut held);
    }
    let greedy_seats: usize = singles
        .iter()
        .filter(|(_, r)| r.get("errors").is_none())
        .map(|(_, r)| data(r)["holdSeats"]["seats"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        greedy_seats <= 4,
        "the per-buyer limit holds inside a batch: {greedy_seats}"
    );
    // Every pair lost to a real holder: nothing was released, so a wanted pair still has a
    // held seat.
    for i in 0..39 {
        assert!(owner.contains_key(&seats[i]) || owner.contains_key(&seats[i + 1]));
    }

    let map = app.gql(MAP, json!({ "s": session })).await;
    let map = &data(&map)["seatMap"];
    let taken: HashSet<String> = map["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .filter(|s| s["status"] == "HELD")
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        taken,
        owner.keys().cloned().collect(),
        "the seat map shows exactly the holds"
    );
    assert_eq!(map["availableCount"].as_u64(), Some(40 - owner.len() as u64));
    assert_eq!(map["version"].as_i64(), Some(held.len() as i64), "one version per hold");
    assert_one_delta_per_hold(app, 0, 40, &held).await;

    let (sum, count) = batches(app).await;
    let (requests, transactions) = (sum - sum_before, count - count_before);
    assert!(requests >= held.len() as f64, "every hold went through the combiner");
    assert!(
        transactions < requests,
        "{requests} requests arriving together took {transactions} transactions"
    );
    assert_eq!(app.metric("curtain_hold_batch_fallbacks_total", "").await, 0.0);
}

async fn retries_of_one_request_get_one_reservation(app: &TestApp) {
    let row = fixtures::one_row_session(app, "Retry", 10).await;
    let (session, seats) = (row.session, row.seats);
    let buyer = app.sign_up("retry@example.com").await;

    // A client retrying impatiently: eight copies of one request at once.
    let pair = [&seats[0], &seats[1]];
    let copies = (0..8).map(|_| hold(app, &buyer, &session, &pair, "same"));
    let answers = futures::future::join_all(copies).await;
    let ids: HashSet<&str> = answers
        .iter()
        .map(|a| data(a)["holdSeats"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 1, "one reservation for every copy: {answers:#?}");

    // One key for different seats at once: one wins, the rest are told the key is taken.
    let other = app.sign_up("retry2@example.com").await;
    let different = (2..6).map(|i| {
        let (other, session, seat) = (&other, &session, &seats[i]);
        async move { hold(app, other, session, &[seat], "mine").await }
    });
    let answers = futures::future::join_all(different).await;
    let won = answers.iter().filter(|a| a.get("errors").is_none()).count();
    assert_eq!(won, 1, "{answers:#?}");
    for refused in answers.iter().filter(|a| a.get("errors").is_some()) {
        assert_eq!(error_code(refused), "CONFLICT", "{refused:#}");
    }
    let map = app.gql(MAP, json!({ "s": session })).await;
    assert_eq!(data(&map)["seatMap"]["availableCount"], 7);
    assert_eq!(data(&map)["seatMap"]["version"], 2);
}

/// Two instances, each combining its own buyers' requests, on one database: the database
/// serialises their batches, so every seat is sold once and the versions stay consecutive.
async fn two_instances_sell_each_seat_once(backend: Backend) {
    let Some(a) = TestApp::spawn(backend).await else {
        return;
    };
    let b = a.spawn_sibling().await.expect("the second instance");
    let row = fixtures::one_row_session(&a, "Twins", 30).await;
    let (session, seats) = (row.session, row.seats);
    let buyers = sign_up_many(&a, "twin", 80).await;

    let attempts = buyers.iter().enumerate().map(|(i, buyer)| {
        let (instance, session, pair) = (
            if i % 2 == 0 { &a } else { &b },
            &session,
            [&seats[i % 29], &seats[i % 29 + 1]],
        );
        async move { hold(instance, buyer, session, &pair, &format!("t-{i}")).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut held: HashMap<String, Vec<String>> = HashMap::new();
    for answer in &answers {
        if answer.get("errors").is_some() {
            assert_eq!(error_code(answer), "SEAT_UNAVAILABLE", "{answer}");
            continue;
        }
        record_win(answer, &mut owner, &mut held);
    }
    assert!(!held.is_empty());
    for instance in [&a, &b] {
        let map = instance.gql(MAP, json!({ "s": session })).await;
        assert_eq!(
            data(&map)["seatMap"]["availableCount"].as_u64(),
            Some(30 - owner.len() as u64)
        );
        assert_eq!(data(&map)["seatMap"]["version"].as_i64(), Some(held.len() as i64));
    }
    assert_one_delta_per_hold(&a, 0, 30, &held).await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_instances_sell_each_seat_once() {
    two_instances_sell_each_seat_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_sell_each_seat_once() {
    two_instances_sell_each_seat_once(Backend::Postgres).await;
}
