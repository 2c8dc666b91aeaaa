use async_graphql::{Context, ID, Object};

use super::types::Reservation;
use crate::auth::limits;
use crate::domain::holds::guards as hold_guards;
use crate::domain::holds::{self, HoldRequest, Prepared};
use crate::domain::{best_available, blocks, sessions, waiting_room};
use crate::error::ApiError;
use crate::graphql::audit::AdminWrite;
use crate::graphql::catalog::Session;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::{GqlResult, app, request_info};
use crate::ids::UserId;
use crate::ids::{NodeKind, SessionId, expect, expect_id};
use crate::state::AppState;

#[derive(Default)]
pub struct BookingMutation;

#[Object]
impl BookingMutation {
    /// Holds all of the chosen seats or none (SEAT_UNAVAILABLE lists the taken ones in
    /// `extensions.seatIds`). Repeating a request with the same `idempotencyKey` returns the
    /// same reservation. While the session's waiting room is on, WAITING_ROOM_REQUIRED
    /// without an ADMITTED ticket.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn hold_seats(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        seat_ids: Vec<ID>,
        idempotency_key: String,
    ) -> GqlResult<Reservation> {
        let started = std::time::Instant::now();
        let result: GqlResult<Reservation> = async {
            let app = app(ctx)?;
            let user_id = principal(ctx)?.user_id;
            let request = HoldRequest {
                user_id,
                session_id: expect_id(&session_id, "sessionId")?,
                seat_ids: seat_ids
                    .iter()
                    .map(|id| expect(NodeKind::Seat, id, "seatIds"))
                    .collect::<Result<_, _>>()?,
                idempotency_key,
            };
            // A retry of a hold already made (a network retry with the same key) is answered
            // without spending the hold budget; every other attempt counts, whatever its outcome.
            let prepared = match holds::prepare(&app.holds, request).await {
                Ok(Prepared::Replayed(existing)) => return Ok(Reservation(existing)),
                other => other,
            };
            check_hold_rate(ctx, app, user_id).await?;
            match prepared? {
                Prepared::Replayed(existing) => Ok(Reservation(existing)),
                Prepared::Ready(ready) => Ok(Reservation(holds::submit(&app.holds, ready).await?)),
            }
        }
        .await;
        record_hold(ctx, started, &result);
        result
    }

    /// Holds the best `count` adjacent seats of `grade`: the frontmost section and row,
    /// closest to the middle, never stranding a single seat when another choice exists.
    /// WAITING_ROOM_REQUIRED as for `holdSeats`.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn hold_best_available(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        count: i32,
        grade: String,
        idempotency_key: String,
    ) -> GqlResult<Reservation> {
        let started = std::time::Instant::now();
        let result: GqlResult<Reservation> = async {
            let app = app(ctx)?;
            let session_id = expect(NodeKind::Session, &session_id, "sessionId")?;
            let count = best_available::check_count(count.into(), app.settings.booking.max_seats_per_buyer)?;
            let user_id = principal(ctx)?.user_id;
            let grade = grade.trim();
            let idempotency_key = hold_guards::client_key(&idempotency_key)?;
            // A retry is answered without spending the hold budget (see `hold_seats`).
            if let Some(existing) =
                hold_guards::replay_best_available(&app.db, user_id, idempotency_key, session_id, count, grade).await?
            {
                return Ok(Reservation(existing));
            }
            waiting_room::require_admission(&app.db, session_id, user_id, chrono::Utc::now()).await?;
            check_hold_rate(ctx, app, user_id).await?;
            Ok(Reservation(
                hold_best(app, user_id, session_id, count, grade, idempotency_key).await?,
            ))
        }
        .await;
        record_hold(ctx, started, &result);
        result
    }

    /// Keeps seats back from sale (all or none; only available seats).
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn block_seats(&self, ctx: &Context<'_>, session_id: ID, seat_ids: Vec<ID>) -> GqlResult<Session> {
        Ok(set_blocked(ctx, &session_id, &seat_ids, true).await?)
    }

    /// Puts blocked seats back on sale.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn unblock_seats(&self, ctx: &Context<'_>, session_id: ID, seat_ids: Vec<ID>) -> GqlResult<Session> {
        Ok(set_blocked(ctx, &session_id, &seat_ids, false).await?)
    }

    /// Lets the seats of a held reservation go.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn release_hold(&self, ctx: &Context<'_>, reservation_id: ID) -> GqlResult<Reservation> {
        let id = expect_id(&reservation_id, "reservationId")?;
        Ok(Reservation(
            holds::release_hold(&app(ctx)?.db, id, principal(ctx)?.user_id).await?,
        ))
    }
}

/// Counts a hold attempt against the buyer's and the client address's per-minute budgets
/// (shared by every instance with Redis); RATE_LIMITED with `retryAfter` beyond either.
/// Called after the idempotency replay, so that retries of a hold already made are free.
async fn check_hold_rate(ctx: &Context<'_>, app: &AppState, user_id: UserId) -> Result<(), ApiError> {
    let booking = &app.settings.booking;
    let ip = limits::limit_key(request_info(ctx)?.client_ip);
    limits::spend_budget(
        app.kv.as_ref(),
        &format!("hold:account:{user_id}"),
        booking.hold_attempts_per_account_per_minute,
        "too many hold attempts from your account; try again shortly",
    )
    .await?;
    limits::spend_budget(
        app.kv.as_ref(),
        &format!("hold:ip:{ip}"),
        booking.hold_attempts_per_ip_per_minute,
        "too many hold attempts from your address; try again shortly",
    )
    .await
}

/// Counts a hold request's outcome and latency for the metrics.
fn record_hold(ctx: &Context<'_>, started: std::time::Instant, result: &GqlResult<Reservation>) {
    let Ok(app) = app(ctx) else { return };
    let outcome = match result {
        Ok(_) => "held",
        Err(err) => match err.extensions.as_ref().and_then(|ext| ext.get("code")) {
            Some(async_graphql::Value::String(code)) => match code.as_str() {
                "SEAT_UNAVAILABLE" => "seat_unavailable",
                "INTERNAL_SERVER_ERROR" | "UNAVAILABLE" => "error",
                _ => "rejected",
            },
            _ => "rejected",
        },
    };
    app.metrics.record_hold(outcome, started.elapsed());
}

/// Chooses and holds; another buyer may take the chosen seats in between, so choose again a
/// few times before giving up.
async fn hold_best(
    app: &AppState,
    user_id: UserId,
    session_id: i64,
    count: usize,
    grade: &str,
    idempotency_key: &str,
) -> Result<entity::reservation::Model, ApiError> {
    // A repeated request must not choose again: the seats it chose are no longer free.
    if let Some(existing) =
        hold_guards::replay_best_available(&app.db, user_id, idempotency_key, session_id, count, grade).await?
    {
        return Ok(existing);
    }
    let mut attempts = 0;
    loop {
        let candidates = best_available::holdable_candidates(
            &app.db,
            session_id,
            grade,
            chrono::Utc::now(),
            crate::domain::waitlist::anyone_waiting(&app.db, session_id).await?,
        )
        .await?;
        if candidates.is_empty() {
            sessions::find_session(&app.db, session_id).await?;
            return Err(ApiError::bad_input(
                "grade",
                format!("the session has no {grade} seats"),
            ));
        }
        let seat_ids = best_available::choose(&candidates, count).ok_or(ApiError::SeatUnavailable(Vec::new()))?;
        let request = HoldRequest {
            user_id,
            session_id: SessionId(session_id),
            seat_ids,
            idempotency_key: idempotency_key.to_string(),
        };
        match holds::hold_seats(&app.holds, request).await {
            Err(ApiError::SeatUnavailable(_)) if attempts < 3 => attempts += 1,
            result => return result,
        }
    }
}

/// Blocks or unblocks seats and records the admin action in the same transaction.
async fn set_blocked(ctx: &Context<'_>, session_id: &ID, seat_ids: &[ID], block: bool) -> Result<Session, ApiError> {
    let app = app(ctx)?;
    let session_id = expect(NodeKind::Session, session_id, "sessionId")?;
    let seats = seat_ids
        .iter()
        .map(|id| expect(NodeKind::Seat, id, "seatIds"))
        .collect::<Result<Vec<_>, _>>()?;
    let write = AdminWrite::begin(ctx).await?;
    blocks::set_blocked(write.txn(), session_id, &seats, block).await?;
    let action = if block { "blockSeats" } else { "unblockSeats" };
    write.commit(ctx, action, NodeKind::Session, Some(session_id)).await?;
    Ok(Session(sessions::find_session(&app.db, session_id).await?))
}
