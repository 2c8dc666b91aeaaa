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

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, EntityTrait, Set, Statement};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::TestApp;
use crate::bench::{on_sale_performance, on_sale_session, percentile_ms};

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

struct Buyer<'a> {
    app: &'a TestApp,
    token: &'a str,
    session: &'a str,
    index: usize,
    started: Instant,
}

impl Buyer<'_> {
    /// Follows the ticket over a WebSocket until admitted (then holds) or sold out.
    async fn subscribe(&self, ticket: &str, opening: &Semaphore) -> anyhow::Result<Outcome> {
        let permit = opening.acquire().await?;
        let url = self.app.url("/graphql").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let init =
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", self.token) } });
        socket.send(Message::text(init.to_string())).await?;
        let query = format!("subscription($t: ID!) {{ waitingRoomUpdates(ticketId: $t) {{ {TICKET} }} }}");
        let start =
            json!({ "type": "subscribe", "id": "1", "payload": { "query": query, "variables": { "t": ticket } } });
        let mut outcome = Outcome::default();
        let mut answers = 0;
        let mut permit = Some(permit);
        while let Some(message) = socket.next().await {
            let text = match message? {
                Message::Text(text) => text,
                Message::Close(frame) => anyhow::bail!("the server closed the socket: {frame:?}"),
                _ => continue,
            };
            let message: Value = serde_json::from_str(text.as_str())?;
            match message["type"].as_str() {
                Some("connection_ack") => socket.send(Message::text(start.to_string())).await?,
                Some("ping") => {
                    socket
                        .send(Message::text(json!({ "type": "pong" }).to_string()))
                        .await?
                }
                Some("pong") => {}
                Some("next") => {
                    permit.take();
                    answers += 1;
                    outcome.events = answers - 1;
                    let state = &message["payload"]["data"]["waitingRoomUpdates"]["state"];
                    if self.act(state, &mut outcome, true).await? {
                        break;
                    }
                }
                _ => anyhow::bail!("unexpected message {message}"),
            }
        }
        let _ = socket.close(None).await;
        if answers == 0 {
            anyhow::bail!("the socket ended before the first answer");
        }
        Ok(outcome)
    }

    /// Follows the ticket by asking again every `every`.
    async fn poll(&self, every: Duration) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        loop {
            let answer = post(self.app, JOIN, json!({ "s": self.session }), self.token).await;
            if self
                .act(&answer["data"]["joinWaitingRoom"]["state"], &mut outcome, false)
                .await?
            {
                return Ok(outcome);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Acts on a ticket state; true when this buyer is done. Anything but a final state
    /// (a busy server's 503 included) means asking again later.
    async fn act(&self, state: &Value, outcome: &mut Outcome, subscribed: bool) -> anyhow::Result<bool> {
        match state.as_str() {
            Some("ADMITTED") => {
                outcome.seats_held = self.hold().await;
                outcome.held_at = (outcome.seats_held > 0).then(|| self.started.elapsed());
                Ok(true)
            }
            Some("SOLD_OUT") => {
                outcome.told_at = Some((subscribed, self.started.elapsed()));
                Ok(true)
            }
            Some("EXPIRED") => Ok(true),
            _ => Ok(false),
        }
    }

    /// Two adjacent seats, or one when two are not to be had; the seats held. Admitted
    /// buyers arrive together and best-available picks the same seats for all of them, so
    /// a buyer who finds them taken tries again a few times, as a person would; a busy
    /// server (SERVER_BUSY, `Retry-After: 1`) is asked again a second later.
    async fn hold(&self) -> usize {
        for count in [2, 1] {
            let mut tries = 0;
            while tries < 10 {
                let key = format!("hold-{}-{count}-{tries}", self.index);
                let variables = json!({ "s": self.session, "n": count, "k": key });
                let answer = post(self.app, HOLD_BEST, variables, self.token).await;
                if answer["data"]["holdBestAvailable"]["id"].is_string() {
                    return count;
                }
                let code = &answer["errors"][0]["extensions"]["code"];
                if code == "SERVER_BUSY" || answer.is_null() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                } else if code == "SEAT_UNAVAILABLE" {
                    tries += 1;
                    let pause = rand::random_range(20..200);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                } else {
                    eprintln!("buyer {} could not hold: {code}", self.index);
                    break;
                }
            }
        }
        0
    }
}

async fn report(
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
