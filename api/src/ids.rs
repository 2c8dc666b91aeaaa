//! Relay global object IDs: the type name and database id, base64url-encoded, so that
//! `node(id)` can find any object and clients treat IDs as opaque.
//!
//! A leaf module: any layer may name an object to a client (an error's seat ids, a
//! notification's reservation id), so it depends on nothing of ours but the error type.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Performance,
    Venue,
    CastMember,
    CastRole,
    Session,
    Seat,
    User,
    AuditEntry,
    Reservation,
    Notification,
    JobRun,
    Review,
    Coupon,
    UserCoupon,
    WaitingRoomTicket,
    Ticket,
    WaitlistEntry,
}

impl NodeKind {
    const ALL: [NodeKind; 17] = [
        NodeKind::Performance,
        NodeKind::Venue,
        NodeKind::CastMember,
        NodeKind::CastRole,
        NodeKind::Session,
        NodeKind::Seat,
        NodeKind::User,
        NodeKind::AuditEntry,
        NodeKind::Reservation,
        NodeKind::Notification,
        NodeKind::JobRun,
        NodeKind::Review,
        NodeKind::Coupon,
        NodeKind::UserCoupon,
        NodeKind::WaitingRoomTicket,
        NodeKind::Ticket,
        NodeKind::WaitlistEntry,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Performance => "Performance",
            Self::Venue => "Venue",
            Self::CastMember => "CastMember",
            Self::CastRole => "CastRole",
            Self::Session => "Session",
            Self::Seat => "Seat",
            Self::User => "User",
            Self::AuditEntry => "AuditEntry",
            Self::Reservation => "Reservation",
            Self::Notification => "Notification",
            Self::JobRun => "JobRun",
            Self::Review => "Review",
            Self::Coupon => "Coupon",
            Self::UserCoupon => "UserCoupon",
            Self::WaitingRoomTicket => "WaitingRoomTicket",
            Self::Ticket => "Ticket",
            Self::WaitlistEntry => "WaitlistEntry",
        }
    }
}

pub fn encode(kind: NodeKind, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// Decodes any global ID; `None` when it is not one of ours.
pub fn decode(id: &ID) -> Option<(NodeKind, i64)> {
    let bytes = URL_SAFE_NO_PAD.decode(id.as_str()).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (name, raw) = text.split_once(':')?;
    let kind = NodeKind::ALL.into_iter().find(|k| k.name() == name)?;
    let id = raw.parse::<i64>().ok().filter(|id| *id > 0)?;
    Some((kind, id))
}

/// Decodes an ID argument that must denote a `kind`; anything else is BAD_USER_INPUT naming
/// the argument.
pub fn expect(kind: NodeKind, id: &ID, argument: &str) -> ApiResult<i64> {
    match decode(id) {
        Some((found, raw)) if found == kind => Ok(raw),
        _ => Err(ApiError::bad_input(
            argument,
            format!("{argument} is not a valid {} ID", kind.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let id = encode(NodeKind::Performance, 42);
        assert_eq!(decode(&id), Some((NodeKind::Performance, 42)));
        assert!(expect(NodeKind::Venue, &id, "venueId").is_err());
        assert_eq!(expect(NodeKind::Performance, &id, "id").ok(), Some(42));
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert_eq!(decode(&ID("not base64 !".into())), None);
        assert_eq!(decode(&ID(URL_SAFE_NO_PAD.encode("Performance:abc"))), None);
        assert_eq!(decode(&ID(URL_SAFE_NO_PAD.encode("Nope:1"))), None);
    }
}
