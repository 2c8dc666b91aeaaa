//! Relay global object identification: `node(id)` fetches any object by its global ID.

use async_graphql::{Context, ID, Interface, Object};

use super::catalog::{CastMember, CastRole, Performance, Session, Venue};
use super::loaders::{CastMemberKey, PerformanceKey, VenueKey, load};
use super::{GqlResult, app};
use crate::domain::{cast, sessions};
use crate::error::{ApiError, ApiResult};
use crate::ids::{NodeKind, decode};

/// An object with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Performance(Performance),
    Venue(Venue),
    CastMember(CastMember),
    CastRole(CastRole),
    Session(Session),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this global ID, or null when there is none.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Node>> {
        let Some((kind, raw)) = decode(&id) else {
            return Err(ApiError::bad_input("id", "id is not a valid global ID").into());
        };
        let db = &app(ctx)?.db;
        let node = match kind {
            NodeKind::Performance => load(ctx, PerformanceKey(raw))
                .await?
                .map(|p| Node::Performance(Performance::new(p))),
            NodeKind::Venue => load(ctx, VenueKey(raw)).await?.map(|v| Node::Venue(Venue(v))),
            NodeKind::CastMember => load(ctx, CastMemberKey(raw))
                .await?
                .map(|c| Node::CastMember(CastMember(c))),
            NodeKind::CastRole => found(cast::find_role(db, raw).await)?.map(|r| Node::CastRole(CastRole(r))),
            NodeKind::Session => found(sessions::find_session(db, raw).await)?.map(|s| Node::Session(Session(s))),
            // Seats are identified within seat maps, accounts through `me` (or by admins), and
            // audit entries, notifications, job runs, reviews, coupons and waitlist entries through their lists; none is fetched
            // on its own.
            NodeKind::Seat
            | NodeKind::User
            | NodeKind::AuditEntry
            | NodeKind::Reservation
            | NodeKind::Notification
            | NodeKind::JobRun
            | NodeKind::Review
            | NodeKind::Coupon
            | NodeKind::UserCoupon
            | NodeKind::WaitingRoomTicket
            | NodeKind::Ticket
            | NodeKind::WaitlistEntry => None,
        };
        Ok(node)
    }
}

/// NOT_FOUND becomes null, as `node` promises.
fn found<T>(result: ApiResult<T>) -> ApiResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ApiError::NotFound(_)) => Ok(None),
        Err(err) => Err(err),
    }
}
