//! The hand-over race: releases, expiries and joins at once, on one session.

use std::collections::{BTreeMap, HashSet};

use curtain_tests::fixtures::{self, database_id};
use curtain_tests::{Session, TestApp, data, error_code};
use entity::{ReservationStatus, WaitlistState, reservation, reservation_seat, waitlist_entry};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::{JOIN, RELEASE, assert_consistent, buyer, hold, joined, lapse, sweep};

/// Twelve seats, each held by its own buyer; then at once: six holders release, six holds
/// lapse and two sweeps run, while sixteen buyers join the line.
pub(super) async fn releases_expiries_and_joins_racing_keep_the_line_and_the_seats_straight(app: &TestApp) {
    const SEATS: usize = 12;
    let row = fixtures::one_row_session(app, "경쟁", SEATS as i32).await;
    let (session, seats) = (row.session, row.seats);
    let holders: Vec<Session> = futures::future::join_all((0..SEATS).map(|i| buyer(app, 100 + i))).await;
    let mut held = Vec::new();
    for (i, (holder, seat)) in holders.iter().zip(&seats).enumerate() {
        held.push(hold(app, holder, &session, &[seat], &format!("h{i}")).await);
    }
    let early: Vec<Session> = futures::future::join_all((0..4).map(|i| buyer(app, 200 + i))).await;
    for buyer in &early {
        joined(app, buyer, &session, 1, None, None).await;
    }
    let racers: Vec<Session> = futures::future::join_all((0..16).map(|i| buyer(app, 300 + i))).await;
    for reservation in &held[6..] {
        lapse(app, reservation).await;
    }

    let mut tasks = tokio::task::JoinSet::new();
    for (holder, reservation) in holders.iter().zip(&held).take(6) {
        let (app_url, token, id) = (app.url("/graphql"), holder.access_token.clone(), reservation.clone());
        let client = app.client.clone();
        tasks.spawn(async move {
            let response: Value = client
                .post(app_url)
                .bearer_auth(token)
                .json(&json!({ "query": RELEASE, "variables": { "id": id } }))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            assert_eq!(data(&response)["releaseHold"]["status"], "RELEASED");
            "released"
        });
    }
    for _ in 0..2 {
        let db = app.db.clone();
        tasks.spawn(async move {
            curtain::domain::holds::expire_holds(&db).await.expect("sweep");
            "swept"
        });
    }
    for racer in &racers {
        let (app_url, token, session) = (app.url("/graphql"), racer.access_token.clone(), session.clone());
        let client = app.client.clone();
        tasks.spawn(async move {
            let response: Value = client
                .post(app_url)
                .bearer_auth(token)
                .json(&json!({ "query": JOIN, "variables": { "s": session, "n": 1 } }))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            if response.get("errors").is_some() {
                // Seats were free at that moment: told to hold instead.
                assert_eq!(error_code(&response), "CONFLICT", "{response}");
                "refused"
            } else {
                "joined"
            }
        });
    }
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    while let Some(outcome) = tasks.join_next().await {
        *outcomes.entry(outcome.expect("task")).or_default() += 1;
    }
    // A sweep that found nothing left to expire (the other got there first) is fine.
    sweep(app).await;

    let session_id = database_id(&session);
    let entries = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::SessionId.eq(session_id))
        .order_by_asc(waitlist_entry::Column::Id)
        .all(&app.db)
        .await
        .expect("entries");
    let joined_count = outcomes.get("joined").copied().unwrap_or(0);
    assert_eq!(entries.len(), 4 + joined_count, "{outcomes:?}");
    let offered: Vec<&waitlist_entry::Model> = entries.iter().filter(|e| e.state == WaitlistState::Offered).collect();
    let waiting: Vec<&waitlist_entry::Model> = entries.iter().filter(|e| e.state == WaitlistState::Waiting).collect();
    assert_eq!(
        offered.len() + waiting.len(),
        entries.len(),
        "every entry waits or was offered"
    );
    // Twelve seats came back; the line (of single-seat requests) is served in order.
    assert_eq!(offered.len(), entries.len().min(SEATS), "{outcomes:?}");
    if let (Some(last_offered), Some(first_waiting)) = (offered.last(), waiting.first()) {
        assert!(
            last_offered.id < first_waiting.id,
            "nobody is served before someone ahead of them"
        );
    }
    let available = entity::session::Entity::find_by_id(session_id)
        .one(&app.db)
        .await
        .expect("session")
        .expect("the session")
        .available_seats;
    assert!(
        waiting.is_empty() || available == 0,
        "no seat is free while a matching request waits"
    );
    // Each offer is one HELD reservation of the entry's buyer, on one seat of its own.
    let mut offered_seats = HashSet::new();
    for entry in &offered {
        let reservation = reservation::Entity::find_by_id(entry.reservation_id.expect("offered reservation"))
            .one(&app.db)
            .await
            .expect("reservation")
            .expect("the reservation");
        assert_eq!(reservation.status, ReservationStatus::Held);
        assert_eq!((reservation.user_id, reservation.seat_count), (entry.user_id, 1));
        let rows = reservation_seat::Entity::find()
            .filter(reservation_seat::Column::ReservationId.eq(reservation.id))
            .filter(reservation_seat::Column::Active.eq(true))
            .all(&app.db)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1);
        assert!(offered_seats.insert(rows[0].seat_id), "a seat offered twice");
    }
    for entry in &waiting {
        assert_eq!(entry.reservation_id, None);
    }
    assert_consistent(app, &session).await;
}
