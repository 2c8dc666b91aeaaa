//! P9, the inventory-aware waiting room: thousands of buyers join one session's waiting
//! room at the same moment; the server's own admission tick (every second, as in
//! production) lets them in as far as the seats go; each admitted buyer holds two adjacent
//! seats (one when only one is left) until the session sells out, and everyone still
//! waiting must then be told.
//!
//! Buyers are made by inserting their accounts and minting their access tokens with the
//! server's own keys: signing 20,000 accounts up over HTTP hashes 20,000 passwords and
//! measures nothing of the waiting room. The first `subscribers` buyers follow their ticket
//! over `waitingRoomUpdates`, each on its own WebSocket (this machine allows 20,000 open
//! files per process, and each socket is two here); the others follow by asking again
//! (`joinWaitingRoom` returns the same ticket) every `poll_seconds`, as a client without
//! WebSockets would. A hold counts as a seat sold (payment is P1's and P6's business).

mod buyer;
mod report;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

use self::buyer::Buyer;
use self::report::report;
use crate::TestApp;
use crate::bench::{on_sale_performance, on_sale_session};

const TICKET: &str = "id state position";
const JOIN: &str = "mutation($s: ID!) { joinWaitingRoom(sessionId: $s) { id state position } }";
const HOLD_BEST: &str = "mutation($s: ID!, $n: Int!, $k: String!) {
    holdBestAvailable(sessionId: $s, count: $n, grade: \"R\", idempotencyKey: $k) { id } }";
const HOLD: &str = "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id } }";

/// The bench's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub buyers: usize,
    pub seats: usize,
    pub subscribers: usize,
    pub concurrency: usize,
    pub poll_seconds: u64,
}

/// What each buyer saw; times are since the bench's start.
#[derive(Default)]
struct Outcome {
    /// Position events after the first answer of the subscription.
    events: usize,
    seats_held: usize,
    /// When this buyer's last seat was held.
    held_at: Option<Duration>,
    /// When this buyer learnt the session sold out (subscribers, pollers).
    told_at: Option<(bool, Duration)>,
}

pub async fn run(app: Arc<TestApp>, plan: Plan) -> anyhow::Result<Value> {
    let performance = on_sale_performance(&app, plan.seats).await;
    let sale = on_sale_session(&app, &performance, 3).await?;
    let session = sale.session.clone();
    let configured = app
        .admin(
            "mutation($s: ID!, $input: WaitingRoomInput!) { configureWaitingRoom(sessionId: $s, input: $input) { enabled } }",
            json!({ "s": session, "input": { "enabled": true, "admitPerMinute": 1_000_000, "admissionMinutes": 10,
                "opensAt": chrono::Utc::now().to_rfc3339() } }),
        )
        .await;
    crate::data(&configured);
    eprintln!("creating {} buyers…", plan.buyers);
    let tokens = Arc::new(make_buyers(&app, plan.buyers).await?);

    eprintln!("{} buyers join at once, {} in flight…", plan.buyers, plan.concurrency);
    let limit = Arc::new(Semaphore::new(plan.concurrency));
    let mut joins = Vec::new();
    let started = Instant::now();
    for i in 0..plan.buyers {
        let (app, limit, tokens, session) = (app.clone(), limit.clone(), tokens.clone(), session.clone());
        joins.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            let began = Instant::now();
            let answer = post(&app, JOIN, json!({ "s": session }), &tokens[i]).await;
            (
                began.elapsed(),
                answer["data"]["joinWaitingRoom"]["id"].as_str().map(String::from),
            )
        }));
    }
    let mut join_latencies = Vec::new();
    let mut tickets = Vec::new();
    for join in joins {
        let (latency, ticket) = join.await?;
        join_latencies.push(latency);
        tickets.push(ticket.context("a join failed")?);
    }
    join_latencies.sort_unstable();

    // A twentieth of the buyers try to hold at once, without waiting for admission. The
    // first few may have been admitted already; the database check below tells.
    let mut early = (0, 0);
    for i in (0..plan.buyers).step_by(20) {
        let seats = &sale.pairs[i % sale.pairs.len()];
        let variables = json!({ "s": session, "seats": seats, "k": format!("early-{i}") });
        let answer = post(&app, HOLD, variables, &tokens[i]).await;
        match answer["errors"][0]["extensions"]["code"].as_str() {
            Some("WAITING_ROOM_REQUIRED") => early.0 += 1,
            _ => early.1 += 1,
        }
    }

    eprintln!("following {} tickets until the session sells out…", plan.buyers);
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let opening = Arc::new(Semaphore::new(256));
    let mut buyers = Vec::new();
    for (i, ticket) in tickets.into_iter().enumerate() {
        let (app, tokens, session, outcomes, opening) = (
            app.clone(),
            tokens.clone(),
            session.clone(),
            outcomes.clone(),
            opening.clone(),
        );
        buyers.push(tokio::spawn(async move {
            let buyer = Buyer {
                app: &app,
                token: &tokens[i],
                session: &session,
                index: i,
                started,
            };
            let every = Duration::from_secs(plan.poll_seconds);
            let outcome = if i < plan.subscribers {
                let mut subscribed = buyer.subscribe(&ticket, &opening).await;
                for _ in 0..5 {
                    if subscribed.is_ok() {
                        break;
                    }
                    // A busy server refuses the upgrade with 503 and `Retry-After: 1`.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    subscribed = buyer.subscribe(&ticket, &opening).await;
                }
                match subscribed {
                    Ok(outcome) => Ok(outcome),
                    Err(err) => {
                        // A buyer whose socket fails asks instead, rather than leaving an
                        // admission unused.
                        eprintln!("buyer {i}'s subscription failed ({err:#}); asking instead");
                        buyer.poll(every).await
                    }
                }
            } else {
                buyer.poll(every).await
            };
            outcomes.lock().await.push(outcome.unwrap_or_default());
        }));
    }
    for buyer in buyers {
        buyer.await?;
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().await);
    report(&app, &session, plan, &join_latencies, early, &outcomes).await
}

/// Inserts `count` buyer accounts (no password: they never log in) and mints a token each.
async fn make_buyers(app: &TestApp, count: usize) -> anyhow::Result<Vec<String>> {
    let now = chrono::Utc::now();
    let mut tokens = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let first = entity::user::Entity::insert_many(chunk.iter().map(|i| entity::user::ActiveModel {
            email: Set(Some(format!("queue-{i}@bench.example"))),
            email_verified: Set(true),
            password_hash: Set(None),
            name: Set(format!("구매자 {i}")),
            phone: Set(None),
            role: Set(entity::Role::User),
            kakao_id: Set(None),
            last_login_at: Set(None),
            language: Set("ko".into()),
            dormant_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(&app.db)
        .await?;
        let _ = first;
    }
    let ids: Vec<i64> = entity::user::Entity::find()
        .all(&app.db)
        .await?
        .into_iter()
        .filter(|u| u.email.as_deref().is_some_and(|e| e.ends_with("@bench.example")))
        .map(|u| u.id)
        .collect();
    for id in ids {
        let (token, _) = app.state.jwt.issue(id, "USER", &uuid::Uuid::new_v4().to_string())?;
        tokens.push(token);
    }
    Ok(tokens)
}

/// A GraphQL request as the buyer's; `null` when no answer came (the buyer asks again).
async fn post(app: &TestApp, query: &str, variables: Value, token: &str) -> Value {
    let sent = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await;
    match sent {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}
