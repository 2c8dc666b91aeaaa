//! The waitlist of sold-out sessions: buyers join, leave and follow their requests; the
//! hand-over itself happens where seats are freed (see [`crate::domain::waitlist`]).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use entity::reservation;

use crate::domain::waitlist::{self, EntryView, JoinRequest};
use crate::graphql::booking::Reservation;
use crate::graphql::catalog::Session;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::loaders::{CatalogLoader, LoadError, SessionKey, load, load_required};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, encode, expect, expect_id};

/// Where a waitlist request stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::WaitlistState")]
pub enum WaitlistState {
    /// In line; `position` says where.
    Waiting,
    /// Seats came back and are held for the buyer: pay `reservation` before it expires.
    Offered,
    /// The offered seats were paid for.
    Booked,
    /// The offered hold was released or lapsed unpaid; the seats went to the next in line.
    Lapsed,
    /// The buyer left the line.
    Left,
    /// The session's sales closed, or it was cancelled, before seats came back.
    Closed,
}

pub struct WaitlistEntry(EntryView);

/// A buyer's request for seats of a sold-out session.
#[Object]
impl WaitlistEntry {
    async fn id(&self) -> ID {
        encode(NodeKind::WaitlistEntry, self.0.entry.id)
    }
    async fn session(&self, ctx: &Context<'_>) -> GqlResult<Session> {
        let session_id = self.0.entry.session_id;
        Ok(Session(
            load_required(ctx, SessionKey(session_id), || {
                format!("waitlist entry has no session {session_id}")
            })
            .await?,
        ))
    }
    /// Seats wanted, side by side when more than one.
    async fn count(&self) -> i32 {
        self.0.entry.seat_count
    }
    /// Null: any grade within `maxPrice`.
    async fn grade(&self) -> Option<&str> {
        self.0.entry.grade.as_deref()
    }
    /// The most paid for one seat, in whole KRW; null: any price.
    async fn max_price(&self) -> Option<i32> {
        self.0.entry.max_price
    }
    async fn state(&self) -> WaitlistState {
        self.0.entry.state.into()
    }
    /// Place in line among WAITING entries (1 is served first); null once not waiting.
    async fn position(&self) -> Option<i32> {
        self.0.position.map(|p| i32::try_from(p).unwrap_or(i32::MAX))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.entry.created_at
    }
    /// The reservation the seats were held in, once OFFERED (HELD until paid or lapsed).
    async fn reservation(&self, ctx: &Context<'_>) -> GqlResult<Option<Reservation>> {
        let Some(id) = self.0.entry.reservation_id else {
            return Ok(None);
        };
        Ok(load(ctx, OfferedReservation(id)).await?.map(Reservation))
    }
}

#[derive(Default)]
pub struct WaitlistQuery;

#[Object]
impl WaitlistQuery {
    /// The caller's waitlist entries, newest first: live ones and recent ended ones (at most 50).
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn my_waitlist(&self, ctx: &Context<'_>) -> GqlResult<Vec<WaitlistEntry>> {
        let entries = waitlist::mine(&app(ctx)?.db, principal(ctx)?.user_id).await?;
        Ok(entries.into_iter().map(WaitlistEntry).collect())
    }
}

#[derive(Default)]
pub struct WaitlistMutation;

#[Object]
impl WaitlistMutation {
    /// Joins a sold-out session's waitlist for `count` seats (side by side), of `grade` (any
    /// grade when left out), at most `maxPrice` KRW each (any price when left out). Seats
    /// that come back are held for the first matching request in line, and the buyer is
    /// notified with the time to pay by. CONFLICT while matching seats can be held now (hold
    /// them instead), the session is not on sale, or the buyer's seats in the session plus
    /// `count` would pass the per-buyer cap. While the session's waiting room is on,
    /// WAITING_ROOM_REQUIRED without an ADMITTED ticket, as for `holdSeats`. Joining again
    /// with the same request returns the live entry; with another request it is CONFLICT
    /// (leave first). Entries still waiting when sales end become CLOSED.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn join_waitlist(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        count: i32,
        grade: Option<String>,
        max_price: Option<i32>,
    ) -> GqlResult<WaitlistEntry> {
        let app = app(ctx)?;
        let request = JoinRequest {
            user_id: principal(ctx)?.user_id,
            session_id: expect(NodeKind::Session, &session_id, "sessionId")?,
            count: count.into(),
            grade,
            max_price: max_price.map(i64::from),
        };
        let booking = &app.settings.booking;
        let joined = waitlist::join(
            &app.db,
            request,
            booking.max_seats_per_buyer,
            chrono::Duration::seconds(booking.hold_seconds),
        )
        .await?;
        Ok(WaitlistEntry(joined))
    }

    /// Leaves the line (LEFT). Idempotent; an entry that already ended is returned as it is.
    /// CONFLICT for an OFFERED entry: its seats are held, so release the hold instead.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn leave_waitlist(&self, ctx: &Context<'_>, entry_id: ID) -> GqlResult<WaitlistEntry> {
        let id = expect_id(&entry_id, "entryId")?;
        let left = waitlist::leave(&app(ctx)?.db, id, principal(ctx)?.user_id).await?;
        Ok(WaitlistEntry(left))
    }
}

/// WAITING entries of a session, batched over a page of sessions.
pub(crate) async fn waitlist_length(ctx: &Context<'_>, session_id: i64) -> GqlResult<i32> {
    let waiting = load(ctx, WaitlistLength(session_id)).await?.unwrap_or(0);
    Ok(i32::try_from(waiting).unwrap_or(i32::MAX))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitlistLength(pub i64);

impl Loader<WaitlistLength> for CatalogLoader {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[WaitlistLength]) -> Result<HashMap<WaitlistLength, i64>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let counts = waitlist::waiting_counts(&self.db().await?, &ids).await?;
        Ok(counts.into_iter().map(|(id, n)| (WaitlistLength(id), n)).collect())
    }
}

/// The reservation offered to an entry, batched over a list of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfferedReservation(pub i64);

impl Loader<OfferedReservation> for CatalogLoader {
    type Value = reservation::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[OfferedReservation]) -> Result<HashMap<OfferedReservation, Self::Value>, Self::Error> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let rows = reservation::Entity::find()
            .filter(reservation::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db().await?)
            .await?;
        Ok(rows.into_iter().map(|r| (OfferedReservation(r.id), r)).collect())
    }
}
