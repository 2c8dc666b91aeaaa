//! The door: checking tickets in (one scan, or an offline scanner's upload) and the door
//! manager's count, for DOOR staff and admins.

use std::time::Duration;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast::error::RecvError;

use super::Ticket;
use crate::domain::tickets::check_in::{self, Outcome, Scan};
use crate::domain::tickets::door;
use crate::error::ApiError;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, encode, expect};
use crate::outbox::topic;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInOutcome {
    /// This scan let the holder in.
    Admitted,
    /// An earlier scan did: see `checkedInAt` and `gate`. Do not let them in again.
    AlreadyCheckedIn,
}

/// What the door learns from a scan.
pub struct CheckIn(check_in::CheckIn);

#[Object]
impl CheckIn {
    async fn outcome(&self) -> CheckInOutcome {
        match self.0.outcome {
            Outcome::Admitted => CheckInOutcome::Admitted,
            Outcome::AlreadyCheckedIn => CheckInOutcome::AlreadyCheckedIn,
        }
    }
    /// When the ticket was checked in: by this scan, or by the earlier one.
    async fn checked_in_at(&self) -> GqlResult<DateTime<Utc>> {
        self.0
            .ticket
            .checked_in_at
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a checked-in ticket has no time")).into())
    }
    /// At which gate, when the scanner named one.
    async fn gate(&self) -> Option<&str> {
        self.0.ticket.gate.as_deref()
    }
    async fn ticket(&self) -> Ticket {
        Ticket(self.0.ticket.clone())
    }
}

/// One scan an offline scanner made.
#[derive(InputObject, Debug)]
pub struct CheckInScan {
    pub payload: String,
    pub gate: Option<String>,
    /// The session the door was letting in.
    pub session_id: Option<ID>,
    /// When it was scanned; the check-in is recorded at that time (never later than now).
    pub scanned_at: DateTime<Utc>,
}

/// What one scan of an upload came to: a check-in, or why the door refuses the ticket.
#[derive(SimpleObject)]
pub struct CheckInResult {
    /// The scan's place in the upload, from 0.
    pub index: i32,
    pub check_in: Option<CheckIn>,
    pub refusal: Option<CheckInRefusal>,
}

/// Why a ticket was refused, with the code `checkIn` would answer with.
#[derive(SimpleObject, Debug)]
pub struct CheckInRefusal {
    /// TICKET_INVALID, TICKET_CANCELLED, TICKET_REFUNDED, TICKET_WRONG_SESSION,
    /// TICKET_TRANSFERRED, BAD_USER_INPUT, …
    pub code: String,
    pub message: String,
}

/// How many of a session's tickets have come in.
#[derive(SimpleObject, Debug)]
pub struct DoorCount {
    pub session_id: ID,
    /// Tickets checked in.
    pub admitted: i64,
    /// Tickets that may come: checked in or still valid.
    pub expected: i64,
}

impl From<door::DoorCount> for DoorCount {
    fn from(count: door::DoorCount) -> Self {
        Self {
            session_id: encode(NodeKind::Session, count.session_id),
            admitted: count.admitted,
            expected: count.expected,
        }
    }
}

#[derive(Default)]
pub struct DoorQuery;

#[Object]
impl DoorQuery {
    /// Admitted and expected tickets of a session, for the door manager.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn door_count(&self, ctx: &Context<'_>, session_id: ID) -> GqlResult<DoorCount> {
        let raw = expect(NodeKind::Session, &session_id, "sessionId")?;
        Ok(door::count(&app(ctx)?.db, raw).await?.into())
    }
}

#[derive(Default)]
pub struct DoorMutation;

#[Object]
impl DoorMutation {
    /// Checks a scanned ticket in: ADMITTED the first time, ALREADY_CHECKED_IN (with when
    /// and where) afterwards, exactly once whichever gate scans first. Refused with
    /// TICKET_INVALID, TICKET_CANCELLED, TICKET_REFUNDED, TICKET_WRONG_SESSION (when
    /// `sessionId`, the session this door lets in, is another) or TICKET_TRANSFERRED.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        payload: String,
        gate: Option<String>,
        session_id: Option<ID>,
    ) -> GqlResult<CheckIn> {
        let session_id = session_id
            .map(|id| expect(NodeKind::Session, &id, "sessionId"))
            .transpose()?;
        let app = app(ctx)?;
        let scan = Scan {
            payload,
            gate,
            session_id,
            scanned_at: None,
        };
        let done = check_in::check_in(&app.db, &app.ticket_keys, principal(ctx)?.user_id, scan).await?;
        Ok(CheckIn(done))
    }

    /// Uploads the scans an offline scanner made (at most 500), each checked in as
    /// `checkIn` would at the time it was scanned. Conflicts come back per scan: a ticket
    /// another gate let in first is ALREADY_CHECKED_IN with that gate and time.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn check_in_batch(&self, ctx: &Context<'_>, scans: Vec<CheckInScan>) -> GqlResult<Vec<CheckInResult>> {
        let mut parsed = Vec::with_capacity(scans.len());
        for (index, scan) in scans.into_iter().enumerate() {
            let session_id = scan
                .session_id
                .map(|id| expect(NodeKind::Session, &id, &format!("scans[{index}].sessionId")))
                .transpose()?;
            parsed.push(Scan {
                payload: scan.payload,
                gate: scan.gate,
                session_id,
                scanned_at: Some(scan.scanned_at),
            });
        }
        let app = app(ctx)?;
        let answers = check_in::check_in_batch(&app.db, &app.ticket_keys, principal(ctx)?.user_id, parsed).await?;
        Ok(answers
            .into_iter()
            .enumerate()
            .map(|(index, answer)| {
                let index = i32::try_from(index).unwrap_or(i32::MAX);
                match answer {
                    Ok(done) => CheckInResult {
                        index,
                        check_in: Some(CheckIn(done)),
                        refusal: None,
                    },
                    Err(err) => CheckInResult {
                        index,
                        check_in: None,
                        refusal: Some(CheckInRefusal {
                            code: err.code().as_str().to_string(),
                            message: err.message(),
                        }),
                    },
                }
            })
            .collect())
    }
}

/// Longest a door count waits to fold more changes into one answer.
const DOOR_COUNT_COALESCE: Duration = Duration::from_millis(200);

#[derive(Default)]
pub struct DoorSubscription;

#[Subscription]
impl DoorSubscription {
    /// The session's door count now, then again after each change (check-ins, tickets
    /// issued or cancelled), on whichever instance it happened; changes close together come
    /// as one count.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn door_count_updates(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
    ) -> async_graphql::Result<BoxStream<'static, DoorCount>> {
        let raw = expect(NodeKind::Session, &session_id, "sessionId")?;
        let app = app(ctx)?.clone();
        let events = app.bus.subscribe();
        let first = door::count(&app.db, raw).await?;
        let later = futures::stream::unfold((events, app), move |(mut events, app)| async move {
            loop {
                match events.recv().await {
                    Ok(event) if event.topic == topic::TICKET && event.aggregate_id == raw => break,
                    Err(RecvError::Lagged(_)) => break,
                    Ok(_) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
            tokio::time::sleep(DOOR_COUNT_COALESCE).await;
            // Whatever arrived while waiting is in the count about to be read.
            while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
            match door::count(&app.db, raw).await {
                Ok(count) => Some((DoorCount::from(count), (events, app))),
                Err(err) => {
                    tracing::warn!(error = ?err.into_anyhow(), "a door count could not be read; the subscription ends");
                    None
                }
            }
        });
        Ok(futures::stream::once(async move { DoorCount::from(first) })
            .chain(later)
            .boxed())
    }
}
