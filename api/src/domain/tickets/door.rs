//! The door manager's count: how many of a session's tickets have come in, of how many.

use entity::{TicketState, ticket};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use crate::error::ApiResult;

/// Admitted so far, and expected in all (tickets valid or checked in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DoorCount {
    pub session_id: i64,
    pub admitted: i64,
    pub expected: i64,
}

#[derive(Debug, FromQueryResult)]
struct ByState {
    state: TicketState,
    tickets: i64,
}

/// One grouped count over the session's tickets (`idx_tickets_session_state`).
pub async fn count(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<DoorCount> {
    let rows = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::State)
        .column_as(ticket::Column::Id.count(), "tickets")
        .filter(ticket::Column::SessionId.eq(session_id))
        .filter(ticket::Column::State.ne(TicketState::Cancelled))
        .group_by(ticket::Column::State)
        .into_model::<ByState>()
        .all(db)
        .await?;
    let mut count = DoorCount {
        session_id,
        ..DoorCount::default()
    };
    for row in rows {
        count.expected += row.tickets;
        if row.state == TicketState::CheckedIn {
            count.admitted += row.tickets;
        }
    }
    Ok(count)
}
