//! The simulated provider of the offline demo, and a page of paid reservations.

use super::*;

backend_tests!(
    the_simulated_provider_runs_the_whole_flow_offline,
    a_page_of_paid_reservations_loads_payments_and_coupons_in_batches,
);

async fn the_simulated_provider_runs_the_whole_flow_offline(app: &TestApp) {
    let response = app
        .gql("{ paymentProvider { name simulated clientKey } }", json!({}))
        .await;
    assert_eq!(
        data(&response)["paymentProvider"],
        json!({ "name": "SIMULATED", "simulated": true, "clientKey": null })
    );
    let (session, seats) = session_with_seats(app, 3).await;
    let buyer = app.sign_up("demo@example.com").await;
    let declined = hold(app, &buyer, &session, &seats[..1], "1").await;
    assert_eq!(
        error_code(&pay(app, &buyer, &declined, "sim_decline_card").await),
        "PAYMENT_FAILED"
    );
    assert_eq!(status(app, &buyer, &declined).await, "HELD");
    let silent = hold(app, &buyer, &session, &seats[1..2], "2").await;
    assert_eq!(
        error_code(&pay(app, &buyer, &silent, "sim_timeout_1").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(status(app, &buyer, &silent).await, "PAYING");
    let paid = hold(app, &buyer, &session, &seats[2..], "3").await;
    let response = pay(app, &buyer, &paid, "anything").await;
    assert_eq!(data(&response)["confirmPayment"]["payment"]["provider"], "SIMULATED");
    assert_eq!(reconcile(app).await, 1);
    assert_eq!(status(app, &buyer, &silent).await, "HELD", "no answer means no payment");
    let response = app
        .post(
            CANCEL,
            json!({ "r": paid.id, "why": "demo" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["cancelReservation"]["payment"]["status"], "CANCELED");
}

async fn a_page_of_paid_reservations_loads_payments_and_coupons_in_batches(app: &TestApp) {
    let (session, seats) = session_with_seats(app, 4).await;
    let coupon = curtain_tests::fixtures::create_coupon(app, 10, json!({ "discountAmount": 1000 })).await;
    let buyer = app.sign_up("lister@example.com").await;
    let response = app
        .post(
            "mutation($c: ID!) { claimCoupon(couponId: $c) { id } }",
            json!({ "c": coupon }),
            Some(&buyer.access_token),
        )
        .await;
    let copy = data(&response)["claimCoupon"]["id"].as_str().expect("copy").to_string();
    // The newest reservation (first in the list) gets the coupon, so a page of one has it too.
    for (i, seat) in seats.iter().enumerate() {
        let mut held = hold(app, &buyer, &session, std::slice::from_ref(seat), &format!("k{i}")).await;
        if i == seats.len() - 1 {
            let response = app
                .post(
                    "mutation($r: ID!, $u: ID!) { applyCoupon(reservationId: $r, userCouponId: $u) { amount } }",
                    json!({ "r": held.id, "u": copy }),
                    Some(&buyer.access_token),
                )
                .await;
            held.amount = data(&response)["applyCoupon"]["amount"].as_i64().expect("amount");
        }
        data(&pay(app, &buyer, &held, &format!("pay-{i}")).await);
    }
    let list = "query($n: Int) { myReservations(first: $n) { edges { node {
        amount payment { status amount } appliedCoupon { status coupon { name } } } } } }";
    let statements = |n: i64| {
        let token = buyer.access_token.clone();
        async move {
            let before = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
            let response = app.post(list, json!({ "n": n }), Some(&token)).await;
            let after = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
            (after - before, response)
        }
    };
    let (one, _) = statements(1).await;
    let (four, response) = statements(4).await;
    let edges = data(&response)["myReservations"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 4);
    assert!(edges.iter().all(|e| e["node"]["payment"]["status"] == "DONE"));
    let with_coupon: Vec<_> = edges.iter().filter(|e| !e["node"]["appliedCoupon"].is_null()).collect();
    assert_eq!(with_coupon.len(), 1);
    assert_eq!(with_coupon[0]["node"]["appliedCoupon"]["status"], "USED");
    assert_eq!(with_coupon[0]["node"]["amount"], 49_000);
    assert_eq!(
        one, four,
        "payments and coupons of a page are loaded in one statement each"
    );
}
