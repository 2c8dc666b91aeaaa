//! The box office's side of the plan: each seat's changes made in order by a task of its
//! own, each when it is due.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Plan, micros_now};
use crate::TestApp;

/// Makes the planned changes, one task per seat; returns how many were refused.
pub(super) async fn change_seats(app: &TestApp, session: &str, seats: &[String], plan: Plan, t0: u64) -> usize {
    let tasks: Vec<_> = (0..seats.len())
        .map(|s| {
            let (client, url, token) = (app.client.clone(), app.url("/graphql"), app.admin_token().to_string());
            let (session, seat) = (session.to_string(), seats[s].clone());
            let count = seats.len();
            tokio::spawn(async move {
                let mut failed = 0;
                for i in (s..plan.changes).step_by(count) {
                    let due = t0 + (i as f64 * 1e6 / plan.rate) as u64;
                    let now = micros_now();
                    if due > now {
                        tokio::time::sleep(Duration::from_micros(due - now)).await;
                    }
                    let mutation = if (i / count).is_multiple_of(2) { "blockSeats" } else { "unblockSeats" };
                    let body = json!({
                        "query": format!("mutation($s: ID!, $seats: [ID!]!) {{ {mutation}(sessionId: $s, seatIds: $seats) {{ id }} }}"),
                        "variables": { "s": session, "seats": [seat] },
                    });
                    let response = client.post(&url).bearer_auth(&token).json(&body).send().await;
                    let ok = match response {
                        Ok(response) => response.json::<Value>().await.is_ok_and(|r| r["errors"].is_null()),
                        Err(_) => false,
                    };
                    failed += usize::from(!ok);
                }
                failed
            })
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        failed += task.await.unwrap_or(1);
    }
    failed
}
