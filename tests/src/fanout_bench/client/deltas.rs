//! One subscriber's deltas checked against the plan (each follows on from the last and
//! carries the planned status) and timed from when each change was due.

use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use super::{ClientPlan, Socket, Tally};
use crate::fanout_bench::micros_now;

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    data: Option<Updates<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Updates<'a> {
    #[serde(borrow)]
    seat_map_updates: Event<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(rename = "__typename")]
    typename: &'a str,
    version: i64,
    from_version: Option<i64>,
    #[serde(borrow, default)]
    changes: Vec<Change<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change<'a> {
    seat_id: &'a str,
    status: &'a str,
}

/// What one subscriber saw.
#[derive(Default)]
pub(super) struct Checked {
    pub(super) delivered: u64,
    pub(super) messages: u64,
    pub(super) resyncs: u64,
    pub(super) errors: u64,
    pub(super) first_errors: Vec<String>,
}

impl Checked {
    fn failed(&mut self, why: String) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(why);
        }
    }
}

/// Reads, checks and times deltas until every planned change has arrived or 10 s pass
/// without a message. Gives the socket back as it is (open unless the server closed it):
/// see [`super::client`].
pub(super) async fn read_deltas(
    mut socket: Socket,
    mut version: i64,
    plan: &ClientPlan,
    t0: u64,
    tally: &Tally,
) -> (Checked, Socket) {
    let mut checked = Checked::default();
    // Visits seen per seat, to know which planned change a seat's next change is.
    let mut visits = vec![0usize; plan.seats.len()];
    // After a resync the visits are unknown: the rest is checked for order only.
    let mut lost_track = false;
    while checked.delivered < plan.changes as u64 {
        let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await else {
            break;
        };
        let at = micros_now();
        let Message::Text(text) = message else { continue };
        let Ok(Incoming {
            payload: Some(Payload { data: Some(updates) }),
        }) = serde_json::from_str::<Incoming>(text.as_str())
        else {
            checked.failed(format!("not a seat-map event: {text}"));
            continue;
        };
        let event = updates.seat_map_updates;
        if event.typename == "SeatMapSnapshot" {
            checked.resyncs += 1;
            version = event.version;
            lost_track = true;
            continue;
        }
        checked.messages += 1;
        let from = event.from_version.unwrap_or(event.version - 1);
        if from != version || (!plan.coalesce && event.version != version + 1) {
            checked.failed(format!("delta {from}→{} after version {version}", event.version));
        }
        version = event.version;
        for change in event.changes {
            let Some(seat) = plan.seats.iter().position(|s| s == change.seat_id) else {
                checked.failed(format!("a change to a seat not in the plan: {}", change.seat_id));
                continue;
            };
            checked.delivered += 1;
            if lost_track {
                continue;
            }
            let visit = visits[seat];
            visits[seat] += 1;
            let i = seat + visit * plan.seats.len();
            let planned = if visit.is_multiple_of(2) {
                "BLOCKED"
            } else {
                "AVAILABLE"
            };
            if i >= plan.changes || change.status != planned {
                checked.failed(format!(
                    "change {i} of seat {seat} is {}, planned {planned}",
                    change.status
                ));
                continue;
            }
            let due = t0 + (i as f64 * 1e6 / plan.rate) as u64;
            tally.record(at.saturating_sub(due));
        }
    }
    (checked, socket)
}
