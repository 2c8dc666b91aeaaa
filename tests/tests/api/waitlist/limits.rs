//! What the line may not be used for: the offers' idempotency keys are the server's (a
//! buyer's own hold cannot take one and so stop seats coming back), the per-buyer seat cap
//! and the waiting room apply to the line as to holds, the line ends with the session's
//! sales, a failing session does not stop the sweep of the others, and `holdBestAvailable`
//! does not keep choosing lapsed seats the line is owed.

use chrono::Utc;
use curtain_tests::fixtures::{self, database_id};
use curtain_tests::{TestApp, data, error_code};
use entity::{ReservationStatus, SeatStatus, reservation, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::{HOLD, assert_consistent, entry, hold, join, joined, lapse, release, small_hall, sweep, waitlist_length};

const BEST: &str = "mutation($s: ID!, $n: Int!, $g: String!, $k: String!) {
    holdBestAvailable(sessionId: $s, count: $n, grade: $g, idempotencyKey: $k) { id status seats { id } } }";

pub(super) async fn hold_keys_in_the_waitlist_namespace_are_refused(app: &TestApp) {
    let row = fixtures::one_row_session(app, "예약키", 2).await;
    let buyer = app.sign_up("keys@example.com").await;
    for key in ["waitlist:1", "  WaitList:7 ", "waitlist:"] {
        let response = app
            .post(
                HOLD,
                json!({ "s": row.session, "seats": [row.seats[0]], "k": key }),
                Some(&buyer.access_token),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{key:?}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], "idempotencyKey");
        let response = app
            .post(
                BEST,
                json!({ "s": row.session, "n": 1, "g": "R", "k": key }),
                Some(&buyer.access_token),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{key:?}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], "idempotencyKey");
    }
    assert_eq!(waitlist_length(app, &row.session).await, (0, 2), "nothing was held");
    // Keys that merely mention the word are the buyer's own.
    hold(app, &buyer, &row.session, &[&row.seats[0]], "my-waitlist:1").await;
}

pub(super) async fn an_offer_under_a_key_the_buyer_already_used_lapses_and_the_seats_go_on(app: &TestApp) {
    let elsewhere = fixtures::one_row_session(app, "다른 공연", 1).await;
    let row = fixtures::one_row_session(app, "충돌", 2).await;
    let holder = app.sign_up("holder@example.com").await;
    let other = app.sign_up("other@example.com").await;
    let released = hold(app, &holder, &row.session, &[&row.seats[0]], "1").await;
    hold(app, &other, &row.session, &[&row.seats[1]], "2").await;
    let first = app.sign_up("first@example.com").await;
    let second = app.sign_up("second@example.com").await;
    let first_entry = joined(app, &first, &row.session, 1, None, None).await;
    let second_entry = joined(app, &second, &row.session, 1, None, None).await;
    // A hold the first buyer made and let go elsewhere, under the key the offer for their
    // entry will use (as buyers could choose before such keys were refused).
    let own = hold(app, &first, &elsewhere.session, &[&elsewhere.seats[0]], "own").await;
    release(app, &first, &own).await;
    reservation::Entity::update_many()
        .col_expr(
            reservation::Column::IdempotencyKey,
            Expr::value(format!("waitlist:{}", database_id(&first_entry))),
        )
        .filter(reservation::Column::Id.eq(database_id(&own)))
        .exec(&app.db)
        .await
        .expect("the colliding key");

    // The release succeeds; the first entry cannot be offered and lapses, the second is served.
    release(app, &holder, &released).await;
    let lapsed = entry(app, &first, &first_entry).await;
    assert_eq!(lapsed["state"], "LAPSED");
    assert_eq!(lapsed["reservation"], Value::Null);
    let offered = entry(app, &second, &second_entry).await;
    assert_eq!(offered["state"], "OFFERED");
    assert_eq!(super::offered_seats(&offered), [row.seats[0].clone()]);
    assert_consistent(app, &row.session).await;
}

pub(super) async fn a_session_whose_sweep_fails_does_not_stop_the_others(app: &TestApp) {
    let failing = fixtures::one_row_session(app, "고장", 1).await;
    let healthy = fixtures::one_row_session(app, "정상", 1).await;
    let buyer = app.sign_up("sweep@example.com").await;
    let stuck = hold(app, &buyer, &failing.session, &[&failing.seats[0]], "1").await;
    let freed = hold(app, &buyer, &healthy.session, &[&healthy.seats[0]], "2").await;
    lapse(app, &stuck).await;
    lapse(app, &freed).await;
    // The first session's sweep fails in the database (its holds cannot be expired).
    let failing_id = database_id(&failing.session);
    let statements = match app.db.get_database_backend() {
        DbBackend::Sqlite => vec![format!(
            "CREATE TRIGGER fail_sweep BEFORE UPDATE ON reservations \
             WHEN NEW.session_id = {failing_id} AND NEW.status = 'EXPIRED' \
             BEGIN SELECT RAISE(ABORT, 'sweep refused'); END"
        )],
        _ => vec![
            "CREATE FUNCTION fail_sweep() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'sweep refused'; END $$"
                .to_string(),
            format!(
                "CREATE TRIGGER fail_sweep BEFORE UPDATE ON reservations FOR EACH ROW \
                 WHEN (NEW.session_id = {failing_id} AND NEW.status = 'EXPIRED') EXECUTE FUNCTION fail_sweep()"
            ),
        ],
    };
    for statement in &statements {
        app.db.execute_unprepared(statement).await.expect("the failing trigger");
    }

    assert_eq!(sweep(app).await, 1, "the healthy session's seat is freed");
    let status = |id: &str| {
        let id = database_id(id);
        async move {
            reservation::Entity::find_by_id(id)
                .one(&app.db)
                .await
                .expect("reservation")
                .expect("exists")
                .status
        }
    };
    assert_eq!(status(&freed).await, ReservationStatus::Expired);
    assert_eq!(status(&stuck).await, ReservationStatus::Held, "rolled back whole");
    let seat = session_seat::Entity::find()
        .filter(session_seat::Column::SessionId.eq(failing_id))
        .one(&app.db)
        .await
        .expect("seat")
        .expect("exists");
    assert_eq!(seat.status, SeatStatus::Held);
    assert_consistent(app, &failing.session).await;
    assert_consistent(app, &healthy.session).await;

    // Once the fault is gone, the next sweep frees it.
    app.db
        .execute_unprepared(match app.db.get_database_backend() {
            DbBackend::Sqlite => "DROP TRIGGER fail_sweep",
            _ => "DROP TRIGGER fail_sweep ON reservations",
        })
        .await
        .expect("drop the trigger");
    assert_eq!(sweep(app).await, 1);
    assert_eq!(status(&stuck).await, ReservationStatus::Expired);
    assert_consistent(app, &failing.session).await;
}

pub(super) async fn joining_respects_the_seat_cap_and_the_waiting_room(app: &TestApp) {
    let (session, seats) = small_hall(app, 2).await;
    let buyer = app.sign_up("capped@example.com").await;
    let rest = app.sign_up("rest@example.com").await;
    hold(
        app,
        &buyer,
        &session,
        &[&seats["A1"], &seats["A2"], &seats["B1"]],
        "mine",
    )
    .await;
    hold(
        app,
        &rest,
        &session,
        &[&seats["B2"], &seats["C1"], &seats["C2"]],
        "rest",
    )
    .await;

    // Three seats held and a cap of four: two more would pass it.
    let refused = join(app, &buyer, &session, 2, None, None).await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 4") && m.contains("already have 3")),
        "{refused}"
    );
    assert_eq!(waitlist_length(app, &session).await, (0, 0));
    let response = join(app, &buyer, &session, 1, None, None).await;
    assert_eq!(data(&response)["joinWaitlist"]["state"], "WAITING");

    // With the waiting room on, only admitted buyers join (as only they hold).
    let response = app
        .admin(
            "mutation($s: ID!, $input: WaitingRoomInput!) { configureWaitingRoom(sessionId: $s, input: $input) { enabled } }",
            json!({ "s": session, "input": { "enabled": true, "admitPerMinute": 100, "admissionMinutes": 10,
                "opensAt": (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339() } }),
        )
        .await;
    assert_eq!(data(&response)["configureWaitingRoom"]["enabled"], true);
    let outsider = app.sign_up("outsider@example.com").await;
    let response = join(app, &outsider, &session, 1, None, None).await;
    assert_eq!(error_code(&response), "WAITING_ROOM_REQUIRED", "{response}");
    assert_eq!(waitlist_length(app, &session).await, (1, 0));
}

pub(super) async fn an_offer_that_would_pass_the_seat_cap_keeps_its_place(app: &TestApp) {
    let (session, seats) = small_hall(app, 2).await;
    let vip_holder = app.sign_up("vip@example.com").await;
    let vip = hold(app, &vip_holder, &session, &[&seats["A1"], &seats["A2"]], "vip").await;
    let greedy = app.sign_up("greedy@example.com").await;
    let greedy_entry = joined(app, &greedy, &session, 2, Some("VIP"), None).await;
    // Then holds three R seats: within the cap alone, but the offer would make five.
    let own = hold(app, &greedy, &session, &[&seats["B1"], &seats["B2"], &seats["C1"]], "r").await;
    let modest = app.sign_up("modest@example.com").await;
    let modest_entry = joined(app, &modest, &session, 1, Some("VIP"), None).await;

    release(app, &vip_holder, &vip).await;
    let skipped = entry(app, &greedy, &greedy_entry).await;
    assert_eq!(
        (skipped["state"].as_str(), skipped["position"].as_i64()),
        (Some("WAITING"), Some(1))
    );
    let offered = entry(app, &modest, &modest_entry).await;
    assert_eq!(offered["state"], "OFFERED");
    assert_eq!(super::offered_seats(&offered).len(), 1);
    assert_consistent(app, &session).await;

    // Once the buyer lets their own seats go, the next seats back are theirs.
    release(app, &greedy, &own).await;
    assert_eq!(entry(app, &greedy, &greedy_entry).await["state"], "WAITING");
    let modest_offer = offered["reservation"]["id"].as_str().expect("id").to_string();
    release(app, &modest, &modest_offer).await;
    let served = entry(app, &greedy, &greedy_entry).await;
    assert_eq!(served["state"], "OFFERED");
    let mut got = super::offered_seats(&served);
    got.sort();
    let mut vip_row = vec![seats["A1"].clone(), seats["A2"].clone()];
    vip_row.sort();
    assert_eq!(got, vip_row);
    assert_consistent(app, &session).await;
}

pub(super) async fn lines_of_sessions_off_sale_close_at_the_sweep(app: &TestApp) {
    let cancelled = fixtures::one_row_session(app, "취소 공연", 1).await;
    let closed = fixtures::one_row_session(app, "마감 공연", 1).await;
    let open = fixtures::one_row_session(app, "계속 공연", 1).await;
    // Sold out: blocked (so the session can still be cancelled) or held.
    let response = app
        .admin(
            "mutation($s: ID!, $seats: [ID!]!) { blockSeats(sessionId: $s, seatIds: $seats) { id } }",
            json!({ "s": cancelled.session, "seats": [cancelled.seats[0]] }),
        )
        .await;
    data(&response);
    let holder = app.sign_up("holder@example.com").await;
    hold(app, &holder, &closed.session, &[&closed.seats[0]], "1").await;
    hold(app, &holder, &open.session, &[&open.seats[0]], "2").await;
    let buyer = app.sign_up("patient@example.com").await;
    let on_cancelled = joined(app, &buyer, &cancelled.session, 1, None, None).await;
    let on_closed = joined(app, &buyer, &closed.session, 1, None, None).await;
    let on_open = joined(app, &buyer, &open.session, 1, None, None).await;

    let response = app
        .admin(
            "mutation($id: ID!) { updateSession(id: $id, input: { status: CANCELLED }) { status } }",
            json!({ "id": cancelled.session }),
        )
        .await;
    assert_eq!(data(&response)["updateSession"]["status"], "CANCELLED");
    fixtures::move_session(app, &closed.session, Utc::now() - chrono::Duration::minutes(1)).await;
    assert_eq!(
        entry(app, &buyer, &on_closed).await["state"],
        "WAITING",
        "until the sweep"
    );

    sweep(app).await;
    for id in [&on_cancelled, &on_closed] {
        let ended = entry(app, &buyer, id).await;
        assert_eq!(ended["state"], "CLOSED");
        assert_eq!(ended["position"], Value::Null);
    }
    assert_eq!(entry(app, &buyer, &on_open).await["state"], "WAITING");
    assert_eq!(waitlist_length(app, &cancelled.session).await.0, 0);
}

pub(super) async fn best_available_passes_over_lapsed_seats_the_line_is_owed(app: &TestApp) {
    let row = fixtures::one_row_session(app, "최선", 5).await;
    let (session, seats) = (row.session, row.seats);
    // The centre three lapse unswept; seats 1 and 5 are free but not side by side.
    let holder = app.sign_up("centre@example.com").await;
    let centre = hold(app, &holder, &session, &[&seats[1], &seats[2], &seats[3]], "c").await;
    lapse(app, &centre).await;
    let pair = app.sign_up("pair@example.com").await;
    let pair_entry = joined(app, &pair, &session, 2, None, None).await;

    let public = app.sign_up("public@example.com").await;
    let response = app
        .post(
            BEST,
            json!({ "s": session, "n": 1, "g": "R", "k": "best" }),
            Some(&public.access_token),
        )
        .await;
    let held = &data(&response)["holdBestAvailable"];
    assert_eq!(held["status"], "HELD", "{response}");
    let seat = held["seats"][0]["id"].as_str().expect("seat");
    assert!(seat == seats[0] || seat == seats[4], "an available seat: {seat}");
    assert_eq!(entry(app, &pair, &pair_entry).await["state"], "WAITING");

    // The sweep then gives the line its seats.
    assert_eq!(sweep(app).await, 3);
    let offered = entry(app, &pair, &pair_entry).await;
    assert_eq!(offered["state"], "OFFERED");
    assert_eq!(super::offered_seats(&offered).len(), 2);
    assert_consistent(app, &session).await;
}
