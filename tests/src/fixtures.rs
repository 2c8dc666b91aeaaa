//! Catalog fixtures created through the admin API.

use serde_json::{Value, json};

use crate::{TestApp, data};

/// A small hall: section "1층" with rows A (VIP) and B, C (R) of `seats_per_row` seats.
pub fn small_layout(seats_per_row: i32) -> Value {
    json!({ "sections": [{ "name": "1층", "rows": [
        { "label": "A", "seatCount": seats_per_row, "grade": "VIP" },
        { "label": "B", "seatCount": seats_per_row, "grade": "R" },
        { "label": "C", "seatCount": seats_per_row, "grade": "R", "accessibleSeats": [1] },
    ]}]})
}

pub async fn create_venue(app: &TestApp, name: &str, layout: Value) -> String {
    let response = app
        .admin(
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }",
            json!({ "input": { "name": name, "address": "서울특별시 중구 세종대로 1", "region": "서울", "layout": layout } }),
        )
        .await;
    data(&response)["createVenue"]["id"]
        .as_str()
        .expect("venue id")
        .to_string()
}

pub async fn create_performance(
    app: &TestApp,
    venue_id: &str,
    title: &str,
    start_date: &str,
    end_date: &str,
) -> String {
    let response = app
        .admin(
            "mutation($input: CreatePerformanceInput!) { createPerformance(input: $input) { id } }",
            json!({ "input": {
                "title": title, "genre": "MUSICAL", "runningMinutes": 150,
                "startDate": start_date, "endDate": end_date, "venueId": venue_id,
            }}),
        )
        .await;
    data(&response)["createPerformance"]["id"]
        .as_str()
        .expect("performance id")
        .to_string()
}

pub async fn create_cast_member(app: &TestApp, name: &str) -> String {
    let response = app
        .admin(
            "mutation($input: CreateCastMemberInput!) { createCastMember(input: $input) { id } }",
            json!({ "input": { "name": name } }),
        )
        .await;
    data(&response)["createCastMember"]["id"]
        .as_str()
        .expect("cast member id")
        .to_string()
}

pub async fn add_cast(app: &TestApp, performance_id: &str, cast_member_id: &str, role: &str) -> String {
    let response = app
        .admin(
            "mutation($input: AddPerformanceCastInput!) { addPerformanceCast(input: $input) { id } }",
            json!({ "input": { "performanceId": performance_id, "castMemberId": cast_member_id, "role": role } }),
        )
        .await;
    data(&response)["addPerformanceCast"]["id"]
        .as_str()
        .expect("cast role id")
        .to_string()
}

/// A session of the small layout's grades (VIP 150,000 and R 100,000 KRW).
pub async fn create_session(app: &TestApp, performance_id: &str, starts_at: &str) -> String {
    let response = app
        .admin(
            "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
            json!({ "input": {
                "performanceId": performance_id, "startsAt": starts_at,
                "prices": [{ "grade": "VIP", "price": 150000 }, { "grade": "R", "price": 100000 }],
            }}),
        )
        .await;
    data(&response)["createSession"]["id"]
        .as_str()
        .expect("session id")
        .to_string()
}

/// A performance titled `title` in a hall of one row of `seats` R seats, with a session on
/// sale in two days at 50,000 KRW a seat.
pub async fn one_row_session(app: &TestApp, title: &str, seats: i32) -> OneRow {
    let layout =
        json!({ "sections": [{ "name": "1층", "rows": [{ "label": "A", "seatCount": seats, "grade": "R" }] }] });
    let venue = create_venue(app, &format!("{title} hall"), layout).await;
    let performance = create_performance(app, &venue, title, &day(0).0, &day(10).0).await;
    let response = app
        .admin(
            "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
            json!({ "input": { "performanceId": performance, "startsAt": day(2).1, "prices": [{ "grade": "R", "price": 50000 }] } }),
        )
        .await;
    let session = data(&response)["createSession"]["id"]
        .as_str()
        .expect("session id")
        .to_string();
    let seats = seats_of(app, &session).await;
    OneRow {
        performance,
        session,
        seats,
    }
}

/// What [`one_row_session`] made.
pub struct OneRow {
    pub performance: String,
    pub session: String,
    pub seats: Vec<String>,
}

/// The seat ids of a session, in seat-map order.
pub async fn seats_of(app: &TestApp, session_id: &str) -> Vec<String> {
    let response = app
        .gql(
            "query($s: ID!) { seatMap(sessionId: $s) { seats { id } } }",
            json!({ "s": session_id }),
        )
        .await;
    data(&response)["seatMap"]["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["id"].as_str().expect("seat id").to_string())
        .collect()
}

/// Holds `seat_ids` for the holder of `access_token`; returns the reservation id.
pub async fn hold(app: &TestApp, access_token: &str, session_id: &str, seat_ids: &[&str], key: &str) -> String {
    let response = app
        .post(
            "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
                holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id } }",
            json!({ "s": session_id, "seats": seat_ids, "k": key }),
            Some(access_token),
        )
        .await;
    data(&response)["holdSeats"]["id"]
        .as_str()
        .expect("reservation id")
        .to_string()
}

/// Takes a held reservation through payment to CONFIRMED, as a successful payment does.
pub async fn confirm(app: &TestApp, reservation_id: &str) {
    use sea_orm::EntityTrait;
    let id = database_id(reservation_id);
    let amount = entity::reservation::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("read the reservation")
        .expect("the reservation")
        .amount;
    curtain::domain::reservation_flow::start_payment(&app.db, id, amount)
        .await
        .expect("start the payment");
    curtain::domain::reservation_flow::confirm_reservation(&app.db, id, amount)
        .await
        .expect("confirm the reservation");
    app.state.relay.wake();
}

/// The app's job environment with `tweak` applied to a copy of its settings.
pub fn job_env_with(app: &TestApp, tweak: impl FnOnce(&mut curtain::config::Settings)) -> curtain::jobs::JobEnv {
    let mut settings = (*app.state.settings).clone();
    tweak(&mut settings);
    curtain::jobs::JobEnv {
        settings: std::sync::Arc::new(settings),
        ..app.state.job_env()
    }
}

/// Runs `job` by hand in `env`, as `curtain job run` does; returns its recorded run.
/// Panics when another run holds the job.
pub async fn run_job(env: &curtain::jobs::JobEnv, job: curtain::jobs::Job) -> entity::job_run::Model {
    use curtain::jobs::runner::{self, Outcome, Trigger};
    match runner::run(env, job, Trigger::Manual, &curtain::jobs::NoProgress)
        .await
        .expect("the job runs")
    {
        Outcome::Ran(record) => record,
        Outcome::Busy => panic!("{} was busy", job.name()),
    }
}

/// A performance's title as buyers read it (empty when there is none).
pub async fn performance_title(app: &TestApp, id: &str) -> String {
    let response = app
        .gql(
            "query($id: ID!) { performance(id: $id) { title } }",
            json!({ "id": id }),
        )
        .await;
    data(&response)["performance"]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Moves a session's start to `starts_at`, as time passing would.
pub async fn move_session(app: &TestApp, session_id: &str, starts_at: chrono::DateTime<chrono::Utc>) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::session::Entity::update_many()
        .col_expr(entity::session::Column::StartsAt, Expr::value(starts_at))
        .filter(entity::session::Column::Id.eq(database_id(session_id)))
        .exec(&app.db)
        .await
        .expect("move the session");
}

/// The database id behind a global GraphQL id.
pub fn database_id(global_id: &str) -> i64 {
    curtain::ids::decode(&async_graphql::ID::from(global_id))
        .expect("a global id")
        .1
}

/// A coupon campaign valid from an hour ago for a week; `discount` holds the discount
/// fields (`discountAmount`, or `discountPercent` and `maxDiscount`) and any others to set.
pub async fn create_coupon(app: &TestApp, total_quantity: i32, discount: Value) -> String {
    let now = chrono::Utc::now();
    let mut input = json!({
        "name": "첫 구매 할인", "totalQuantity": total_quantity,
        "validFrom": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "validUntil": (now + chrono::Duration::days(7)).to_rfc3339(),
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), discount.as_object()) {
        input.extend(extra.clone());
    }
    let response = app
        .admin(
            "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    data(&response)["createCoupon"]["id"]
        .as_str()
        .expect("coupon id")
        .to_string()
}

/// A day `days` from today (Korean calendar) as `YYYY-MM-DD`, and 19:30 that evening
/// (Korean time) as an RFC 3339 instant.
pub fn day(days: i64) -> (String, String) {
    let korea = chrono::FixedOffset::east_opt(9 * 3600).expect("valid offset");
    let date = chrono::Utc::now().with_timezone(&korea).date_naive() + chrono::Duration::days(days);
    (date.to_string(), format!("{date}T19:30:00+09:00"))
}
