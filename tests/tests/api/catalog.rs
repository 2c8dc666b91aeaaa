//! Catalog CRUD end to end: venues with layouts, cast, performances, sessions, seat maps.

use curtain_tests::fixtures::{
    add_cast, create_cast_member, create_performance, create_session, create_venue, day, small_layout,
};
use curtain_tests::{TestApp, backend_tests, data, error_code};
use serde_json::json;

backend_tests!(
    an_admin_builds_a_catalog_that_buyers_can_browse,
    updates_change_only_the_fields_given,
    deleting_what_is_referenced_is_a_conflict_and_deleting_in_order_works,
    a_session_gets_one_available_seat_per_seat_of_the_venue,
);

async fn an_admin_builds_a_catalog_that_buyers_can_browse(app: &TestApp) {
    let venue = create_venue(app, "예술의전당 오페라극장", small_layout(10)).await;
    let (start, _) = day(-1);
    let (end, _) = day(30);
    let performance = create_performance(app, &venue, "레미제라블", &start, &end).await;
    let member = create_cast_member(app, "조승우").await;
    add_cast(app, &performance, &member, "장발장").await;
    let (_, starts_at) = day(3);
    let session = create_session(app, &performance, &starts_at).await;

    let response = app
        .gql(
            "query($id: ID!) { performance(id: $id) {
                id title genre startDate endDate posterUrl
                venue { name region seatCount sections { name position } }
                cast { role castMember { name roles { role } } }
                sessions { id availableSeatCount totalSeatCount saleState status prices { grade price } performance { title } }
                priceTiers { grade price }
            } }",
            json!({ "id": performance }),
        )
        .await;
    let performance = &data(&response)["performance"];
    assert_eq!(performance["title"], "레미제라블");
    assert_eq!(performance["genre"], "MUSICAL");
    assert_eq!(performance["startDate"], start);
    assert!(performance["posterUrl"].is_null());
    assert_eq!(performance["venue"]["seatCount"], 30);
    assert_eq!(
        performance["venue"]["sections"],
        json!([{ "name": "1층", "position": 0 }])
    );
    assert_eq!(
        performance["cast"],
        json!([{ "role": "장발장", "castMember": { "name": "조승우", "roles": [{ "role": "장발장" }] } }])
    );
    let sessions = performance["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], session);
    assert_eq!(sessions[0]["availableSeatCount"], 30);
    assert_eq!(sessions[0]["totalSeatCount"], 30);
    assert_eq!(sessions[0]["saleState"], "ON_SALE");
    assert_eq!(
        sessions[0]["prices"],
        json!([{ "grade": "VIP", "price": 150000 }, { "grade": "R", "price": 100000 }])
    );
    assert_eq!(
        performance["priceTiers"],
        json!([{ "grade": "VIP", "price": 150000 }, { "grade": "R", "price": 100000 }])
    );

    // Every object is reachable through node(id).
    let response = app
        .gql(
            "query($p: ID!, $v: ID!, $c: ID!, $s: ID!) {
                p: node(id: $p) { id ... on Performance { title } }
                v: node(id: $v) { id ... on Venue { name } }
                c: node(id: $c) { id ... on CastMember { name } }
                s: node(id: $s) { id ... on Session { totalSeatCount } }
            }",
            json!({ "p": performance["id"], "v": venue, "c": member, "s": session }),
        )
        .await;
    let nodes = data(&response);
    assert_eq!(nodes["p"]["title"], "레미제라블");
    assert_eq!(nodes["v"]["name"], "예술의전당 오페라극장");
    assert_eq!(nodes["c"]["name"], "조승우");
    assert_eq!(nodes["s"]["totalSeatCount"], 30);

    // Filters find the performance by genre, venue, cast member and dates.
    for filter in [
        json!({ "genre": "MUSICAL" }),
        json!({ "venueId": venue }),
        json!({ "castMemberId": member }),
        json!({ "from": start, "to": end }),
    ] {
        let response = app
            .gql(
                "query($f: PerformanceFilterInput) { performances(filter: $f) { edges { node { title } } } }",
                json!({ "f": filter }),
            )
            .await;
        assert_eq!(
            data(&response)["performances"]["edges"].as_array().map(Vec::len),
            Some(1),
            "filter {filter}"
        );
    }
    for filter in [json!({ "genre": "OPERA" }), json!({ "from": day(40).0 })] {
        let response = app
            .gql(
                "query($f: PerformanceFilterInput) { performances(filter: $f) { edges { node { title } } } }",
                json!({ "f": filter }),
            )
            .await;
        assert_eq!(
            data(&response)["performances"]["edges"].as_array().map(Vec::len),
            Some(0),
            "filter {filter}"
        );
    }
}

async fn updates_change_only_the_fields_given(app: &TestApp) {
    let venue = create_venue(app, "Old name", small_layout(4)).await;
    let response = app
        .admin(
            "mutation($id: ID!) { updateVenue(id: $id, input: { name: \"New name\" }) { name address seatCount } }",
            json!({ "id": venue }),
        )
        .await;
    assert_eq!(
        data(&response)["updateVenue"],
        json!({ "name": "New name", "address": "서울특별시 중구 세종대로 1", "seatCount": 12 })
    );

    // The layout can be replaced while no session uses the venue.
    let layout =
        json!({ "sections": [{ "name": "발코니", "rows": [{ "label": "A", "seatCount": 7, "grade": "S" }] }] });
    let response = app
        .admin(
            "mutation($id: ID!, $layout: VenueLayoutInput!) { updateVenue(id: $id, input: { layout: $layout }) { seatCount sections { name } } }",
            json!({ "id": venue, "layout": layout }),
        )
        .await;
    assert_eq!(
        data(&response)["updateVenue"],
        json!({ "seatCount": 7, "sections": [{ "name": "발코니" }] })
    );

    let (start, _) = day(0);
    let (end, _) = day(10);
    let performance = create_performance(app, &venue, "Hamlet", &start, &end).await;
    let response = app
        .admin(
            "mutation($id: ID!) { updatePerformance(id: $id, input: { englishTitle: \"Hamlet\", title: \"햄릿\", minimumAge: 15 }) { title englishTitle minimumAge runningMinutes } }",
            json!({ "id": performance }),
        )
        .await;
    assert_eq!(
        data(&response)["updatePerformance"],
        json!({ "title": "햄릿", "englishTitle": "Hamlet", "minimumAge": 15, "runningMinutes": 150 })
    );

    let member = create_cast_member(app, "홍길동").await;
    let response = app
        .admin(
            "mutation($id: ID!) { updateCastMember(id: $id, input: { englishName: \"Hong Gil-dong\", bio: \"배우\" }) { name englishName bio } }",
            json!({ "id": member }),
        )
        .await;
    assert_eq!(
        data(&response)["updateCastMember"],
        json!({ "name": "홍길동", "englishName": "Hong Gil-dong", "bio": "배우" })
    );

    let role = add_cast(app, &performance, &member, "햄릿").await;
    let response = app
        .admin(
            "mutation($id: ID!) { updatePerformanceCast(id: $id, input: { role: \"유령\", billingOrder: 3 }) { role billingOrder } }",
            json!({ "id": role }),
        )
        .await;
    assert_eq!(
        data(&response)["updatePerformanceCast"],
        json!({ "role": "유령", "billingOrder": 3 })
    );

    let (_, starts_at) = day(2);
    let response = app
        .admin(
            "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
            json!({ "input": { "performanceId": performance, "startsAt": starts_at, "prices": [{ "grade": "S", "price": 50000 }] } }),
        )
        .await;
    let session = data(&response)["createSession"]["id"].clone();
    let response = app
        .admin(
            "mutation($id: ID!) { updateSession(id: $id, input: { prices: [{ grade: \"S\", price: 55000 }], status: CANCELLED }) { status saleState prices { grade price } } }",
            json!({ "id": session }),
        )
        .await;
    assert_eq!(
        data(&response)["updateSession"],
        json!({ "status": "CANCELLED", "saleState": "CANCELLED", "prices": [{ "grade": "S", "price": 55000 }] })
    );

    // With a session in place, the layout is frozen.
    let response = app
        .admin(
            "mutation($id: ID!, $layout: VenueLayoutInput!) { updateVenue(id: $id, input: { layout: $layout }) { seatCount } }",
            json!({ "id": venue, "layout": small_layout(3) }),
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
}

async fn deleting_what_is_referenced_is_a_conflict_and_deleting_in_order_works(app: &TestApp) {
    let venue = create_venue(app, "Hall", small_layout(2)).await;
    let (start, _) = day(0);
    let (end, _) = day(10);
    let performance = create_performance(app, &venue, "Chicago", &start, &end).await;
    let member = create_cast_member(app, "Velma").await;
    let role = add_cast(app, &performance, &member, "Velma Kelly").await;
    let (_, starts_at) = day(1);
    let session = create_session(app, &performance, &starts_at).await;

    let delete = |what: &'static str| format!("mutation($id: ID!) {{ {what}(id: $id) }}");
    for (mutation, id) in [
        ("deleteVenue", &venue),
        ("deletePerformance", &performance),
        ("deleteCastMember", &member),
    ] {
        let response = app.admin(&delete(mutation), json!({ "id": id })).await;
        assert_eq!(error_code(&response), "CONFLICT", "{mutation}");
        assert!(
            response["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.contains("SQL")),
            "{response}"
        );
    }

    let response = app.admin(&delete("removePerformanceCast"), json!({ "id": role })).await;
    assert_eq!(data(&response)["removePerformanceCast"], role);
    for (mutation, id) in [
        ("deleteSession", &session),
        ("deletePerformance", &performance),
        ("deleteCastMember", &member),
        ("deleteVenue", &venue),
    ] {
        let response = app.admin(&delete(mutation), json!({ "id": id })).await;
        assert_eq!(&data(&response)[mutation], id, "{mutation}");
    }
    let response = app
        .gql("query($id: ID!) { venue(id: $id) { name } }", json!({ "id": venue }))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    let response = app
        .gql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": performance }))
        .await;
    assert!(data(&response)["node"].is_null());
}

async fn a_session_gets_one_available_seat_per_seat_of_the_venue(app: &TestApp) {
    let venue = create_venue(app, "Map hall", small_layout(5)).await;
    let (start, _) = day(0);
    let (end, _) = day(10);
    let performance = create_performance(app, &venue, "Seat map", &start, &end).await;
    let (_, starts_at) = day(1);
    let session = create_session(app, &performance, &starts_at).await;

    let response = app
        .gql(
            "query($id: ID!) { seatMap(sessionId: $id) { version availableCount seats { id section row number grade price status x y accessible } } }",
            json!({ "id": session }),
        )
        .await;
    let map = &data(&response)["seatMap"];
    assert_eq!(map["version"], 0);
    assert_eq!(map["availableCount"], 15);
    let seats = map["seats"].as_array().expect("seats");
    assert_eq!(seats.len(), 15);
    assert!(seats.iter().all(|s| s["status"] == "AVAILABLE"));
    assert_eq!(seats[0]["row"], "A");
    assert_eq!(seats[0]["number"], 1);
    assert_eq!(seats[0]["grade"], "VIP");
    assert_eq!(seats[0]["price"], 150000);
    assert_eq!(seats[5]["row"], "B");
    assert_eq!(seats[5]["price"], 100000);
    assert_eq!(seats[10]["accessible"], true);
    let ids: std::collections::HashSet<_> = seats.iter().map(|s| s["id"].as_str().unwrap_or_default()).collect();
    assert_eq!(ids.len(), 15, "seat ids are distinct");

    // The same map through the session.
    let response = app
        .gql(
            "query($id: ID!) { session(id: $id) { seatMap { availableCount } } }",
            json!({ "id": session }),
        )
        .await;
    assert_eq!(data(&response)["session"]["seatMap"]["availableCount"], 15);
}
