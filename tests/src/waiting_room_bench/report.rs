//! What the buyers saw added up and checked against the database (holds made without
//! admission, seats sold): the table beside the goals and the figures as JSON.

use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use super::{Outcome, Plan};
use crate::TestApp;
use crate::bench::percentile_ms;

pub(super) async fn report(
    app: &TestApp,
    session: &str,
    plan: Plan,
    join_latencies: &[Duration],
    (early_refused, early_other): (usize, usize),
    outcomes: &[Outcome],
) -> anyhow::Result<Value> {
    let session_id = crate::fixtures::database_id(session);
    let count = |sql: String| async move {
        let row = app
            .db
            .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
            .await?
            .context("a row")?;
        anyhow::Ok(row.try_get_by_index::<i64>(0)?)
    };
    let unadmitted = count(format!(
        "SELECT COUNT(*) FROM reservations r LEFT JOIN waiting_room_tickets t
            ON t.user_id = r.user_id AND t.session_id = r.session_id
          WHERE r.session_id = {session_id}
            AND (t.admitted_at IS NULL OR r.created_at < t.admitted_at OR r.created_at > t.admitted_until)"
    ))
    .await?;
    let sold = count(format!(
        "SELECT CAST(total_seats - available_seats AS BIGINT) FROM sessions WHERE id = {session_id}"
    ))
    .await?;
    let held: usize = outcomes.iter().map(|o| o.seats_held).sum();
    let events: usize = outcomes.iter().map(|o| o.events).sum();
    let sold_out_at = outcomes.iter().filter_map(|o| o.held_at).max().unwrap_or_default();
    let told = |subscribed: bool| {
        let times: Vec<Duration> = outcomes
            .iter()
            .filter_map(|o| o.told_at)
            .filter(|(s, _)| *s == subscribed)
            .map(|(_, at)| at.saturating_sub(sold_out_at))
            .collect();
        (times.len(), times.into_iter().max().unwrap_or_default())
    };
    let (subscribers_told, subscribers_last) = told(true);
    let (pollers_told, pollers_last) = told(false);
    let (p50, p99) = (percentile_ms(join_latencies, 0.50), percentile_ms(join_latencies, 0.99));

    println!(
        "\nP9 waiting room: {} buyers join at once for {} seats; {} follow by subscription, the rest ask every {} s",
        plan.buyers,
        plan.seats,
        plan.subscribers.min(plan.buyers),
        plan.poll_seconds
    );
    println!("| measure | figure | goal |");
    println!("|---|---|---|");
    println!("| join latency p50 / p99 | {p50:.1} / {p99:.1} ms | p99 ≤ 100 ms |");
    println!("| position events delivered (after each subscription's first answer) | {events} | |");
    println!(
        "| sold out → every waiting subscriber told | {:.2} s ({subscribers_told} told) | ≤ 2 s |",
        subscribers_last.as_secs_f64()
    );
    println!(
        "| sold out → every polling buyer saw it | {:.2} s ({pollers_told} told) | ≤ poll interval + 1 s |",
        pollers_last.as_secs_f64()
    );
    println!("| early hold attempts: WAITING_ROOM_REQUIRED / answered otherwise | {early_refused} / {early_other} | |");
    println!(
        "| holds made without admission (reservations outside their buyer's admission window) | {unadmitted} | 0 |"
    );
    println!(
        "| seats sold (held) / seats | {sold} ({held} by buyers) / {} | equal |",
        plan.seats
    );
    Ok(json!({
        "bench": "P9", "buyers": plan.buyers, "seats": plan.seats, "subscribers": plan.subscribers.min(plan.buyers),
        "join_p50_ms": p50, "join_p99_ms": p99, "position_events": events,
        "told_subscribers_s": subscribers_last.as_secs_f64(), "subscribers_told": subscribers_told,
        "told_pollers_s": pollers_last.as_secs_f64(), "pollers_told": pollers_told,
        "early_refused": early_refused, "early_other": early_other, "holds_without_admission": unadmitted,
        "seats_sold": sold, "seats_held_by_buyers": held,
    }))
}
