//! First-come coupons: never more copies than the campaign has and never two to one buyer,
//! whatever the concurrency; discounts computed by the server; copies given back when a
//! reservation is released, expires or is cancelled.

use std::collections::HashSet;

use curtain_tests::fixtures::{self, create_coupon};
use curtain_tests::{Session, TestApp, backend_tests, data, error_code};
use entity::{coupon, reservation, session_seat, user_coupon};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    five_hundred_buyers_rushing_for_fifty_coupons_get_exactly_fifty,
    a_buyer_racing_themselves_gets_one_copy,
    discounts_are_fixed_or_capped_percentages_above_a_minimum,
    a_coupon_comes_back_when_its_reservation_expires_is_released_or_cancelled,
    the_box_office_runs_campaigns_and_buyers_see_what_is_on_offer,
);

const CLAIM: &str = "mutation($c: ID!) { claimCoupon(couponId: $c) { id status coupon { id } } }";
const APPLY: &str = "mutation($r: ID!, $u: ID!) {
    applyCoupon(reservationId: $r, userCouponId: $u) { id amount discount appliedCoupon { id status } } }";
const REMOVE: &str =
    "mutation($r: ID!) { removeCoupon(reservationId: $r) { id amount discount appliedCoupon { id } } }";
const MINE: &str = "{ myCoupons { id status coupon { id name } } }";

async fn claim(app: &TestApp, buyer: &Session, coupon: &str) -> Value {
    app.post(CLAIM, json!({ "c": coupon }), Some(&buyer.access_token)).await
}

/// Claims and returns the buyer's copy's ID.
async fn claimed(app: &TestApp, buyer: &Session, coupon: &str) -> String {
    data(&claim(app, buyer, coupon).await)["claimCoupon"]["id"]
        .as_str()
        .expect("user coupon id")
        .to_string()
}

/// A session of one row of R seats at 50,000 KRW, and its seat IDs.
async fn session_with_seats(app: &TestApp, seats: i32) -> (String, String, Vec<String>) {
    let row = fixtures::one_row_session(app, "Coupons", seats).await;
    (row.performance, row.session, row.seats)
}

/// Holds the seats and returns the reservation's ID.
async fn hold(app: &TestApp, buyer: &Session, session: &str, seats: &[String], key: &str) -> String {
    let response = app
        .post(
            "mutation($s: ID!, $seats: [ID!]!, $k: String!) { holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id amount } }",
            json!({ "s": session, "seats": seats, "k": key }),
            Some(&buyer.access_token),
        )
        .await;
    data(&response)["holdSeats"]["id"]
        .as_str()
        .expect("reservation id")
        .to_string()
}

async fn copy_status(app: &TestApp, buyer: &Session, copy: &str) -> String {
    let response = app.post(MINE, json!({}), Some(&buyer.access_token)).await;
    data(&response)["myCoupons"]
        .as_array()
        .expect("my coupons")
        .iter()
        .find(|c| c["id"] == copy)
        .map(|c| c["status"].as_str().unwrap_or_default().to_string())
        .expect("the copy is among my coupons")
}

async fn five_hundred_buyers_rushing_for_fifty_coupons_get_exactly_fifty(app: &TestApp) {
    let coupon = create_coupon(app, 50, json!({ "discountAmount": 5000 })).await;
    let buyers: Vec<Session> =
        futures::future::join_all((0..500).map(|i| async move { app.sign_up(&format!("rush{i}@example.com")).await }))
            .await;

    let responses = futures::future::join_all(buyers.iter().map(|buyer| claim(app, buyer, &coupon))).await;

    let mut winners = HashSet::new();
    for (buyer, response) in buyers.iter().zip(&responses) {
        if response.get("errors").is_some() {
            assert_eq!(error_code(response), "COUPON_SOLD_OUT", "{response}");
        } else {
            assert_eq!(data(response)["claimCoupon"]["status"], "AVAILABLE");
            assert!(winners.insert(buyer.user_id.clone()), "one copy per buyer");
        }
    }
    assert_eq!(winners.len(), 50, "exactly as many copies as the campaign has");
    let issued = coupon::Entity::find()
        .one(&app.db)
        .await
        .expect("coupon")
        .map(|c| c.issued);
    assert_eq!(issued, Some(50));
    let copies = user_coupon::Entity::find().all(&app.db).await.expect("copies");
    let holders: HashSet<i64> = copies.iter().map(|c| c.user_id).collect();
    assert_eq!((copies.len(), holders.len()), (50, 50));
}

async fn a_buyer_racing_themselves_gets_one_copy(app: &TestApp) {
    let coupon = create_coupon(app, 10, json!({ "discountAmount": 5000 })).await;
    let buyer = app.sign_up("eager@example.com").await;
    let responses = futures::future::join_all((0..30).map(|_| claim(app, &buyer, &coupon))).await;
    let won = responses.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(won, 1, "{responses:#?}");
    for response in responses.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(error_code(response), "CONFLICT", "{response}");
    }
    let issued = coupon::Entity::find()
        .one(&app.db)
        .await
        .expect("coupon")
        .map(|c| c.issued);
    assert_eq!(issued, Some(1), "a refused second copy leaves the counter alone");
    assert_eq!(user_coupon::Entity::find().count(&app.db).await.expect("count"), 1);
}

async fn discounts_are_fixed_or_capped_percentages_above_a_minimum(app: &TestApp) {
    let (performance, session, seats) = session_with_seats(app, 4).await;
    let fixed = create_coupon(app, 10, json!({ "discountAmount": 5000 })).await;
    let capped = create_coupon(app, 10, json!({ "discountPercent": 10, "maxDiscount": 8000 })).await;
    let percent = create_coupon(app, 10, json!({ "discountPercent": 15, "performanceId": performance })).await;
    let big_orders = create_coupon(
        app,
        10,
        json!({ "discountAmount": 20000, "minimumOrderAmount": 150000 }),
    )
    .await;
    let elsewhere = {
        let (other, _, _) = session_with_seats(app, 1).await;
        create_coupon(app, 10, json!({ "discountAmount": 1000, "performanceId": other })).await
    };
    let buyer = app.sign_up("saver@example.com").await;
    let [fixed, capped, percent, big_orders, elsewhere] = [
        claimed(app, &buyer, &fixed).await,
        claimed(app, &buyer, &capped).await,
        claimed(app, &buyer, &percent).await,
        claimed(app, &buyer, &big_orders).await,
        claimed(app, &buyer, &elsewhere).await,
    ];
    // Two seats: 100,000 KRW.
    let reservation = hold(app, &buyer, &session, &seats[..2], "two").await;
    let apply = |copy: String| {
        let reservation = reservation.clone();
        let token = buyer.access_token.clone();
        async move {
            app.post(APPLY, json!({ "r": reservation, "u": copy }), Some(&token))
                .await
        }
    };

    let response = apply(fixed.clone()).await;
    let applied = &data(&response)["applyCoupon"];
    assert_eq!(
        (applied["amount"].as_i64(), applied["discount"].as_i64()),
        (Some(95_000), Some(5_000))
    );
    assert_eq!(applied["appliedCoupon"]["status"], "APPLIED");

    // 10% of 100,000 is 10,000, capped at 8,000; the fixed copy goes back to the buyer.
    let response = apply(capped.clone()).await;
    assert_eq!(data(&response)["applyCoupon"]["amount"], 92_000);
    assert_eq!(copy_status(app, &buyer, &fixed).await, "AVAILABLE");
    assert_eq!(copy_status(app, &buyer, &capped).await, "APPLIED");

    let response = apply(percent.clone()).await;
    assert_eq!(data(&response)["applyCoupon"]["amount"], 85_000);

    let response = apply(big_orders.clone()).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "below the minimum order");
    let response = apply(elsewhere.clone()).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "for another performance");

    // A copy applied to one reservation cannot be applied to another.
    let second = hold(app, &buyer, &session, &seats[2..3], "one").await;
    let response = app
        .post(APPLY, json!({ "r": second, "u": percent }), Some(&buyer.access_token))
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
    // Nor can someone else's copy.
    let stranger = app.sign_up("stranger@example.com").await;
    let mine = hold(app, &stranger, &session, &seats[3..4], "s").await;
    let response = app
        .post(APPLY, json!({ "r": mine, "u": fixed }), Some(&stranger.access_token))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");

    let response = app
        .post(REMOVE, json!({ "r": reservation }), Some(&buyer.access_token))
        .await;
    let removed = &data(&response)["removeCoupon"];
    assert_eq!(
        (removed["amount"].as_i64(), removed["discount"].as_i64()),
        (Some(100_000), Some(0))
    );
    assert!(removed["appliedCoupon"].is_null());
    assert_eq!(copy_status(app, &buyer, &percent).await, "AVAILABLE");
}

/// Moves a hold's expiry into the past, as if its time had run out.
async fn lapse(app: &TestApp) {
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    reservation::Entity::update_many()
        .col_expr(reservation::Column::ExpiresAt, Expr::value(past))
        .filter(reservation::Column::Status.eq(entity::ReservationStatus::Held))
        .exec(&app.db)
        .await
        .expect("lapse reservations");
    session_seat::Entity::update_many()
        .col_expr(session_seat::Column::HoldExpiresAt, Expr::value(past))
        .filter(session_seat::Column::Status.eq(entity::SeatStatus::Held))
        .exec(&app.db)
        .await
        .expect("lapse seats");
}

async fn a_coupon_comes_back_when_its_reservation_expires_is_released_or_cancelled(app: &TestApp) {
    let (_, session, seats) = session_with_seats(app, 4).await;
    let coupon = create_coupon(app, 5, json!({ "discountAmount": 5000 })).await;
    let buyer = app.sign_up("returns@example.com").await;
    let copy = claimed(app, &buyer, &coupon).await;
    let use_on = |reservation: String| {
        let (copy, token) = (copy.clone(), buyer.access_token.clone());
        async move {
            let response = app
                .post(APPLY, json!({ "r": reservation, "u": copy }), Some(&token))
                .await;
            assert_eq!(data(&response)["applyCoupon"]["amount"], 45_000);
        }
    };

    // Expiry.
    let first = hold(app, &buyer, &session, &seats[..1], "expires").await;
    use_on(first).await;
    lapse(app).await;
    let freed = curtain::domain::holds::expire_holds(&app.db).await.expect("sweep");
    assert_eq!(freed, 1);
    assert_eq!(copy_status(app, &buyer, &copy).await, "AVAILABLE");

    // Release.
    let second = hold(app, &buyer, &session, &seats[1..2], "released").await;
    use_on(second.clone()).await;
    let response = app
        .post(
            "mutation($r: ID!) { releaseHold(reservationId: $r) { status } }",
            json!({ "r": second }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["releaseHold"]["status"], "RELEASED");
    assert_eq!(copy_status(app, &buyer, &copy).await, "AVAILABLE");

    // Payment spends it; cancelling the paid reservation gives it back.
    let third = hold(app, &buyer, &session, &seats[2..3], "paid").await;
    use_on(third.clone()).await;
    let held = reservation::Entity::find()
        .filter(reservation::Column::Status.eq(entity::ReservationStatus::Held))
        .one(&app.db)
        .await
        .expect("query")
        .expect("the held reservation");
    curtain::domain::reservation_flow::start_payment(&app.db, held.id, held.amount)
        .await
        .expect("paying");
    curtain::domain::reservation_flow::confirm_reservation(&app.db, held.id, held.amount)
        .await
        .expect("confirmed");
    assert_eq!(copy_status(app, &buyer, &copy).await, "USED");
    let fourth = hold(app, &buyer, &session, &seats[3..4], "no coupon").await;
    let response = app
        .post(APPLY, json!({ "r": fourth, "u": copy }), Some(&buyer.access_token))
        .await;
    assert_eq!(error_code(&response), "CONFLICT", "a spent coupon does not apply");
    curtain::domain::reservation_flow::cancel_confirmed(&app.db, held.id, None)
        .await
        .expect("cancelled");
    assert_eq!(copy_status(app, &buyer, &copy).await, "AVAILABLE");
}

async fn the_box_office_runs_campaigns_and_buyers_see_what_is_on_offer(app: &TestApp) {
    let now = chrono::Utc::now();
    let create = "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { id } }";
    let base = json!({ "name": "x", "totalQuantity": 3,
        "validFrom": now.to_rfc3339(), "validUntil": (now + chrono::Duration::days(1)).to_rfc3339() });
    let with = |extra: Value| {
        let mut input = base.clone();
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        json!({ "input": input })
    };
    for bad in [
        json!({ "discountAmount": 1000, "discountPercent": 10 }),
        json!({}),
        json!({ "discountPercent": 120 }),
        json!({ "discountAmount": 1000, "maxDiscount": 500 }),
        json!({ "discountAmount": 1000, "totalQuantity": 0 }),
        json!({ "discountAmount": 1000, "validUntil": now.to_rfc3339() }),
    ] {
        let response = app.admin(create, with(bad.clone())).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{bad}");
    }
    let nowhere = curtain::ids::encode(curtain::ids::NodeKind::Performance, 999_999).to_string();
    let response = app
        .admin(
            create,
            with(json!({ "discountAmount": 1000, "performanceId": nowhere })),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    let missing = curtain::ids::encode(curtain::ids::NodeKind::Coupon, 999_999).to_string();
    for mutation in [
        "mutation($id: ID!) { deactivateCoupon(id: $id) { id } }",
        "mutation($id: ID!) { updateCoupon(id: $id, input: { name: \"x\" }) { id } }",
    ] {
        assert_eq!(
            error_code(&app.admin(mutation, json!({ "id": missing })).await),
            "NOT_FOUND"
        );
    }
    let buyer = app.sign_up("browser@example.com").await;
    let response = app
        .post(
            create,
            with(json!({ "discountAmount": 1000 })),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");

    let first = create_coupon(app, 1, json!({ "discountAmount": 1000 })).await;
    let second = create_coupon(app, 2, json!({ "discountPercent": 5 })).await;
    let third = create_coupon(app, 2, json!({ "discountPercent": 5 })).await;
    let on_offer = |token: String| async move {
        let response = app
            .post("{ availableCoupons { id remainingCount } }", json!({}), Some(&token))
            .await;
        data(&response)["availableCoupons"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect::<HashSet<_>>()
    };
    assert_eq!(on_offer(buyer.access_token.clone()).await.len(), 3);
    claimed(app, &buyer, &second).await;
    let other = app.sign_up("other@example.com").await;
    claimed(app, &other, &first).await;
    // Claimed by this buyer, or run out: neither is on offer.
    assert_eq!(
        on_offer(buyer.access_token.clone()).await,
        HashSet::from([third.clone()])
    );

    let response = app
        .admin(
            "mutation($id: ID!) { updateCoupon(id: $id, input: { totalQuantity: 0 }) { id } }",
            json!({ "id": second }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app
        .admin(
            "mutation($id: ID!) { updateCoupon(id: $id, input: { totalQuantity: 5, name: \"더 많이\" }) { name totalQuantity issuedCount remainingCount } }",
            json!({ "id": second }),
        )
        .await;
    assert_eq!(
        data(&response)["updateCoupon"],
        json!({ "name": "더 많이", "totalQuantity": 5, "issuedCount": 1, "remainingCount": 4 })
    );

    let response = app
        .admin(
            "mutation($id: ID!) { deactivateCoupon(id: $id) { active } }",
            json!({ "id": third }),
        )
        .await;
    assert_eq!(data(&response)["deactivateCoupon"]["active"], false);
    assert_eq!(error_code(&claim(app, &buyer, &third).await), "CONFLICT");
    assert!(on_offer(buyer.access_token.clone()).await.is_empty());

    let page = app
        .admin(
            "{ coupons(first: 2) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    let page = &data(&page)["coupons"];
    assert_eq!(page["edges"][0]["node"]["id"], third, "newest first");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let rest = app
        .admin(
            "query($a: String) { coupons(first: 2, after: $a) { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({ "a": page["pageInfo"]["endCursor"] }),
        )
        .await;
    let rest = &data(&rest)["coupons"];
    assert_eq!(rest["edges"][0]["node"]["id"], first);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(
        error_code(
            &app.post(
                "{ coupons { edges { node { id } } } }",
                json!({}),
                Some(&buyer.access_token)
            )
            .await
        ),
        "FORBIDDEN"
    );
}
