//! What the fuzzer knows of the running server before it starts: real IDs from the demo
//! catalog, and how to log in again.

use serde_json::json;

use super::values::KnownIds;
use crate::TestApp;

/// Real IDs from the catalog (and a buyer's reservation), so that generated arguments often
/// reach past "not found" into the resolvers.
pub async fn known_ids(app: &TestApp, buyer_token: &str) -> KnownIds {
    let mut known = KnownIds::default();
    let mut add = |kind: &str, id: &serde_json::Value| {
        if let Some(id) = id.as_str() {
            known.0.entry(kind.to_string()).or_default().push(id.to_string());
        }
    };
    let catalog = app
        .gql(
            "{ performances(first: 20) { edges { node { id venue { id } cast { id castMember { id } }
               sessions { id seatMap { seats { id } } } } } } }",
            json!({}),
        )
        .await;
    let edges = catalog["data"]["performances"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for edge in &edges {
        let performance = &edge["node"];
        add("Performance", &performance["id"]);
        add("Venue", &performance["venue"]["id"]);
        for role in performance["cast"].as_array().into_iter().flatten() {
            add("CastRole", &role["id"]);
            add("CastMember", &role["castMember"]["id"]);
        }
        for session in performance["sessions"].as_array().into_iter().flatten().take(3) {
            add("Session", &session["id"]);
            for seat in session["seatMap"]["seats"].as_array().into_iter().flatten().take(20) {
                add("Seat", &seat["id"]);
            }
        }
    }
    if let (Some(session), Some(seat)) = (
        known.0.get("Session").and_then(|s| s.first()).cloned(),
        known.0.get("Seat").and_then(|s| s.first()).cloned(),
    ) {
        let held = app
            .post(
                "mutation($s: ID!, $seats: [ID!]!) { holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: \"fuzz\") { id } }",
                json!({ "s": session, "seats": [seat] }),
                Some(buyer_token),
            )
            .await;
        known
            .0
            .entry("Reservation".into())
            .or_default()
            .extend(held["data"]["holdSeats"]["id"].as_str().map(String::from));
    }
    known
}

/// A fresh access token for `email`, or `None` when log-in is refused (the fuzzer may have
/// changed the account).
pub(super) async fn log_in(app: &TestApp, email: &str, password: &str) -> Option<String> {
    let response = app
        .gql(
            "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }",
            json!({ "e": email, "p": password }),
        )
        .await;
    response["data"]["logIn"]["accessToken"].as_str().map(String::from)
}
