//! The buyers' side of the drill: a GraphQL client, the session on sale, the buyers
//! themselves, and the tally of what they were answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use super::{DrillReport, FaultFigures};

/// Answers that tell a buyer nothing they can act on: an internal error, or an error with no
/// code. Every other refusal (SEAT_UNAVAILABLE, UNAVAILABLE, the per-buyer seat cap's
/// BAD_USER_INPUT, …) is a clear answer.
const UNCLEAR: &[&str] = &["INTERNAL_SERVER_ERROR", "NO_CODE"];

/// A GraphQL client of one instance.
pub(super) struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    pub(super) fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
        }
    }

    async fn post(&self, query: &str, variables: Value, token: Option<&str>) -> reqwest::Result<Value> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await?.json().await
    }

    /// The answer's `data`; UNAVAILABLE is asked again, as its message tells clients to,
    /// for up to ten seconds.
    async fn data(&self, query: &str, variables: Value, token: Option<&str>) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = self.post(query, variables.clone(), token).await?;
            if response.get("errors").is_none() {
                return Ok(response["data"].clone());
            }
            if response["errors"][0]["extensions"]["code"] != "UNAVAILABLE" || Instant::now() > deadline {
                bail!("{query}: {response}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub(super) async fn log_in(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let data = self
            .data(
                "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }",
                json!({ "e": email, "p": password }),
                None,
            )
            .await?;
        Ok(data["logIn"]["accessToken"].as_str().context("a token")?.to_string())
    }
}

pub(super) async fn sign_up(api: &Api, count: usize) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(count);
    for n in 0..count {
        let data = api
            .data(
                "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }",
                json!({ "input": { "email": format!("drill-{n}@example.com"), "password": crate::BUYER_PASSWORD,
                                   "name": "구매자", "phone": "010-1234-5678" } }),
                None,
            )
            .await?;
        tokens.push(data["signUp"]["accessToken"].as_str().context("a token")?.to_string());
    }
    Ok(tokens)
}

/// The session on sale.
#[derive(Clone)]
pub(super) struct Sale {
    performance: String,
    pub(super) session: String,
    pub(super) session_id: i64,
    seats: Arc<Vec<String>>,
}

impl Sale {
    pub(super) async fn create(api: &Api, admin: &str, seats: usize) -> anyhow::Result<Self> {
        let rows: Vec<Value> = (0..seats.div_ceil(10))
            .map(|row| json!({ "label": format!("R{row}"), "seatCount": (seats - row * 10).min(10), "grade": "R" }))
            .collect();
        let layout = json!({ "sections": [{ "name": "1층", "rows": rows }] });
        let data = api
            .data(
                "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }",
                json!({ "input": { "name": "훈련 극장", "address": "서울특별시 중구 세종대로 1", "region": "서울", "layout": layout } }),
                Some(admin),
            )
            .await?;
        let venue = data["createVenue"]["id"].as_str().context("venue")?.to_string();
        let (today, _) = crate::fixtures::day(0);
        let (end, _) = crate::fixtures::day(10);
        let data = api
            .data(
                "mutation($input: CreatePerformanceInput!) { createPerformance(input: $input) { id } }",
                json!({ "input": { "title": "훈련 공연 처음 이름", "genre": "MUSICAL", "runningMinutes": 150,
                                   "startDate": today, "endDate": end, "venueId": venue } }),
                Some(admin),
            )
            .await?;
        let performance = data["createPerformance"]["id"]
            .as_str()
            .context("performance")?
            .to_string();
        let data = api
            .data(
                "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
                json!({ "input": { "performanceId": performance, "startsAt": crate::fixtures::day(2).1,
                                   "prices": [{ "grade": "R", "price": 50000 }] } }),
                Some(admin),
            )
            .await?;
        let session = data["createSession"]["id"].as_str().context("session")?.to_string();
        let data = api
            .data(
                "query($s: ID!) { seatMap(sessionId: $s) { seats { id } } }",
                json!({ "s": session }),
                None,
            )
            .await?;
        let seats = data["seatMap"]["seats"]
            .as_array()
            .context("seats")?
            .iter()
            .filter_map(|seat| seat["id"].as_str().map(str::to_owned))
            .collect();
        Ok(Self {
            performance,
            session_id: crate::fixtures::database_id(&session),
            session,
            seats: Arc::new(seats),
        })
    }

    /// Renames the performance (a catalog change every instance's index must apply);
    /// returns the title.
    pub(super) async fn rename(&self, api: &Api, admin: &str, title: &str) -> anyhow::Result<String> {
        let title = format!("훈련 공연 {title}");
        api.data(
            "mutation($id: ID!, $t: String!) { updatePerformance(id: $id, input: { title: $t }) { id } }",
            json!({ "id": self.performance, "t": title }),
            Some(admin),
        )
        .await?;
        Ok(title)
    }

    /// The same rename, written with its outbox event in one transaction, not through the API.
    pub(super) async fn rename_in_database(&self, db: &DatabaseConnection, title: &str) -> anyhow::Result<String> {
        use sea_orm::TransactionTrait;
        let title = format!("훈련 공연 {title}");
        let id = crate::fixtures::database_id(&self.performance);
        let txn = db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "UPDATE performances SET title = $1 WHERE id = $2",
            [title.clone().into(), id.into()],
        ))
        .await?;
        curtain::domain::catalog_events::record_change(
            &txn,
            curtain::domain::catalog_events::CatalogObject::Performance,
            id,
        )
        .await
        .map_err(curtain::error::ApiError::into_anyhow)?;
        txn.commit().await?;
        Ok(title)
    }

    /// Whether the instance's index finds the performance under `title` (waiting up to 5 s).
    pub(super) async fn searchable(&self, api: &Api, title: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = api
                .data(
                    "query($q: String!) { search(query: $q, first: 5) { edges { node { ... on Performance { id title } } } } }",
                    json!({ "q": title }),
                    None,
                )
                .await;
            if let Ok(found) = found {
                let hits = found["search"]["edges"].as_array().cloned().unwrap_or_default();
                if hits
                    .iter()
                    .any(|hit| hit["node"]["id"] == self.performance.as_str() && hit["node"]["title"] == title)
                {
                    return true;
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    Kill,
    Redis,
    Postgres,
}

/// Buyers' answers, overall and during the fault under way.
#[derive(Default)]
pub(super) struct Tally {
    inner: Mutex<TallyInner>,
}

#[derive(Default)]
struct TallyInner {
    attempts: u64,
    holds: u64,
    transport: u64,
    answers: HashMap<String, u64>,
    fault: Option<(Fault, FaultFigures)>,
    /// The fault ended at this instant; the first hold after it is its recovery.
    ended: Option<(Instant, FaultFigures)>,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, TallyInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn begin(&self, fault: Fault) {
        self.lock().fault = Some((fault, FaultFigures::default()));
    }

    /// Ends the fault under way; its figures once a hold has gone through again (or 30 s).
    pub(super) async fn end(&self) -> FaultFigures {
        {
            let mut inner = self.lock();
            let figures = inner.fault.take().map(|(_, f)| f).unwrap_or_default();
            inner.ended = Some((Instant::now(), figures));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let inner = self.lock();
                if let Some((_, figures)) = &inner.ended
                    && (figures.recovered_ms.is_some() || Instant::now() > deadline)
                {
                    let figures = figures.clone();
                    drop(inner);
                    self.lock().ended = None;
                    return figures;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn record(&self, answer: &Answer) {
        let mut inner = self.lock();
        match answer {
            Answer::Transport => inner.transport += 1,
            Answer::Held => {
                inner.attempts += 1;
                inner.holds += 1;
            }
            Answer::Refused(code) => {
                inner.attempts += 1;
                *inner.answers.entry(code.clone()).or_default() += 1;
            }
        }
        if let Some((fault, figures)) = &mut inner.fault {
            figures.attempts += 1;
            match answer {
                Answer::Held => figures.holds += 1,
                Answer::Refused(code) if code == "UNAVAILABLE" => figures.unavailable += 1,
                Answer::Refused(code) if !UNCLEAR.contains(&code.as_str()) => {}
                // The killed instance answers nothing; that is not an unclear answer.
                Answer::Transport if *fault == Fault::Kill => {}
                Answer::Transport => {
                    figures.unclear += 1;
                    *figures.unclear_codes.entry("NO_ANSWER".into()).or_default() += 1;
                }
                Answer::Refused(code) => {
                    figures.unclear += 1;
                    *figures.unclear_codes.entry(code.clone()).or_default() += 1;
                }
            }
        }
        if let (Answer::Held, Some((ended, figures))) = (answer, &mut inner.ended)
            && figures.recovered_ms.is_none()
        {
            figures.recovered_ms = Some(ended.elapsed().as_secs_f64() * 1000.0);
        }
    }

    pub(super) fn fill(&self, report: &mut DrillReport) {
        let inner = self.lock();
        report.hold_attempts = inner.attempts;
        report.holds = inner.holds;
        report.transport_errors = inner.transport;
        report.answers = inner.answers.iter().map(|(k, v)| (k.clone(), *v)).collect();
    }
}

enum Answer {
    Held,
    Refused(String),
    Transport,
}

/// One buyer: holds one or two seats at random, pays for half of its holds, lets the rest
/// lapse; moves to the other instance when its own does not answer, as a load balancer
/// would send it.
pub(super) async fn buy(
    nodes: Arc<[String; 2]>,
    mut node: usize,
    token: String,
    sale: Sale,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) {
    let apis = [Api::new(&nodes[0]), Api::new(&nodes[1])];
    let mut attempt = 0u64;
    while !stop.load(Ordering::Relaxed) {
        attempt += 1;
        let first = rand::random_range(0..sale.seats.len());
        let mut seats = vec![&sale.seats[first]];
        if rand::random::<bool>() && first + 1 < sale.seats.len() {
            seats.push(&sale.seats[first + 1]);
        }
        let key = format!("drill-{}", uuid::Uuid::new_v4().simple());
        let response = apis[node]
            .post(
                "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
                    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id orderId amount } }",
                json!({ "s": sale.session, "seats": seats, "k": key }),
                Some(&token),
            )
            .await;
        let answer = match &response {
            Err(_) => Answer::Transport,
            Ok(body) if body.get("errors").is_none() => Answer::Held,
            Ok(body) => Answer::Refused(
                body["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or("NO_CODE")
                    .to_string(),
            ),
        };
        tally.record(&answer);
        match (answer, response) {
            (Answer::Transport, _) => {
                node = 1 - node;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (Answer::Held, Ok(body)) if attempt.is_multiple_of(2) => {
                let held = &body["data"]["holdSeats"];
                let _ = apis[node]
                    .post(
                        "mutation($r: ID!, $k: String!, $o: String!, $a: Int!) {
                            confirmPayment(reservationId: $r, paymentKey: $k, orderId: $o, amount: $a) { status } }",
                        json!({ "r": held["id"], "k": format!("sim_{key}"), "o": held["orderId"], "a": held["amount"] }),
                        Some(&token),
                    )
                    .await;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(rand::random_range(20..60))).await;
    }
}
