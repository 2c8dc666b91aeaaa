//! Refunds: cancelling a paid booking, a cancellation in Toss's console arriving by
//! webhook, and a payment approved after its hold ended.

use super::*;

toss_tests!(
    a_cancelled_booking_is_refunded_and_its_seats_go_back_on_sale,
    a_payment_cancelled_in_the_toss_console_reaches_us_by_webhook,
    a_payment_approved_after_the_hold_ended_is_refunded_and_the_buyer_told,
);

async fn a_cancelled_booking_is_refunded_and_its_seats_go_back_on_sale(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("canceller@example.com").await;
    let early = hold(app, &buyer, &session, &seats[..1], "early").await;
    let late = hold(app, &buyer, &session, &seats[1..], "late").await;
    data(&pay(app, &buyer, &early, "ok-early").await);
    data(&pay(app, &buyer, &late, "ok-late").await);

    let response = app
        .post(
            CANCEL,
            json!({ "r": early.id, "why": "일정 변경" }),
            Some(&buyer.access_token),
        )
        .await;
    let cancelled = &data(&response)["cancelReservation"];
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["payment"]["status"], "CANCELED");
    assert!(cancelled["payment"]["cancelledAt"].is_string());
    assert_eq!(
        toss.payment(&early.order_id).map(|p| p["status"].clone()),
        Some(json!("CANCELED"))
    );
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "SOLD"]);
    // Cancelling again refunds nothing twice.
    let again = app
        .post(
            CANCEL,
            json!({ "r": early.id, "why": "일정 변경" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&again)["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(toss.cancels(), 1);

    // The show moves to within the cut-off: the buyer can no longer cancel, the box office can.
    session::Entity::update_many()
        .col_expr(
            session::Column::StartsAt,
            Expr::value(chrono::Utc::now() + chrono::Duration::hours(3)),
        )
        .exec(&app.db)
        .await
        .expect("move the show");
    let response = app
        .post(
            CANCEL,
            json!({ "r": late.id, "why": "늦은 취소" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
    assert_eq!(toss.cancels(), 1);
    let response = app.admin(CANCEL, json!({ "r": late.id, "why": "공연장 사정" })).await;
    assert_eq!(data(&response)["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "AVAILABLE"]);
    // The box office's cancellation is in the audit log; the buyer's own is not.
    let log = app
        .admin(
            "{ auditLog(first: 10) { edges { node { action targetId } } } }",
            json!(null),
        )
        .await;
    let cancellations: Vec<_> = data(&log)["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|edge| edge["node"]["action"] == "cancelReservation")
        .map(|edge| edge["node"]["targetId"].clone())
        .collect();
    assert_eq!(cancellations, vec![json!(late.id)]);
}

async fn a_payment_cancelled_in_the_toss_console_reaches_us_by_webhook(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 1).await;
    let buyer = app.sign_up("console@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "c").await;
    data(&pay(app, &buyer, &held, "ok-console").await);

    // The body alone is not believed: Toss still says DONE.
    assert_eq!(webhook(app, &held.order_id, "CANCELED").await, 200);
    assert_eq!(status(app, &buyer, &held).await, "CONFIRMED");

    toss.cancel_in_console(&held.order_id);
    assert_eq!(webhook(app, &held.order_id, "CANCELED").await, 200);
    assert_eq!(status(app, &buyer, &held).await, "CANCELLED");
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE"]);
    // Delivered twice, applied once; an unknown order is acknowledged and ignored.
    assert_eq!(webhook(app, &held.order_id, "CANCELED").await, 200);
    assert_eq!(webhook(app, "curtain-no-such-order", "DONE").await, 200);
    assert_eq!(status(app, &buyer, &held).await, "CANCELLED");
    assert_eq!(toss.cancels(), 0, "Toss already refunded it");
}

async fn a_payment_approved_after_the_hold_ended_is_refunded_and_the_buyer_told(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 1).await;
    let buyer = app.sign_up("too-late@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "late").await;
    assert_eq!(
        error_code(&pay(app, &buyer, &held, "lost-late").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(reconcile(app).await, 1, "Toss has nothing yet: held again");

    // The hold runs out and the seat is freed.
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    reservation::Entity::update_many()
        .col_expr(reservation::Column::ExpiresAt, Expr::value(past))
        .exec(&app.db)
        .await
        .expect("lapse");
    session_seat::Entity::update_many()
        .col_expr(session_seat::Column::HoldExpiresAt, Expr::value(past))
        .filter(session_seat::Column::Status.eq(entity::SeatStatus::Held))
        .exec(&app.db)
        .await
        .expect("lapse seats");
    curtain::domain::holds::expire_holds(&app.db).await.expect("sweep");
    assert_eq!(status(app, &buyer, &held).await, "EXPIRED");

    // Then Toss approves after all, and says so.
    toss.approve("lost-late", &held.order_id, held.amount);
    assert_eq!(webhook(app, &held.order_id, "DONE").await, 200);
    assert_eq!(
        toss.payment(&held.order_id).map(|p| p["status"].clone()),
        Some(json!("CANCELED"))
    );
    assert_eq!(toss.cancels(), 1);
    let response = app
        .post(STATUS, json!({ "r": held.id }), Some(&buyer.access_token))
        .await;
    assert_eq!(
        data(&response)["reservation"],
        json!({ "status": "EXPIRED", "amount": held.amount, "payment": { "status": "CANCELED" } })
    );
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE"]);
    let told = notification::Entity::find()
        .filter(notification::Column::Kind.eq("PAYMENT_REFUNDED"))
        .all(&app.db)
        .await
        .expect("notifications");
    assert_eq!(told.len(), 1);
    assert!(told[0].body.contains("50,000"), "{}", told[0].body);
    // News of it again refunds nothing twice.
    assert_eq!(webhook(app, &held.order_id, "DONE").await, 200);
    assert_eq!(toss.cancels(), 1);
}
