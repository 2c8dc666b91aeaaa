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

/// A database id that knows what it identifies, so that a reservation's id cannot be passed
/// where a user's is expected. The domain's commands take these; rows (SeaORM models) keep
/// plain `i64`s, wrapped where they enter a command.
pub trait TypedId: Copy {
    const KIND: NodeKind;
    fn raw(self) -> i64;
    fn from_raw(raw: i64) -> Self;

    /// Its global ID, as clients see it.
    fn global(self) -> ID {
        encode(Self::KIND, self.raw())
    }
}

macro_rules! typed_ids {
    ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl TypedId for $name {
            const KIND: NodeKind = NodeKind::$kind;
            fn raw(self) -> i64 {
                self.0
            }
            fn from_raw(raw: i64) -> Self {
                Self(raw)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        /// Compared with and bound to its column as the `i64` it is.
        impl From<$name> for sea_orm::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        /// Compared with a row's column.
        impl PartialEq<i64> for $name {
            fn eq(&self, raw: &i64) -> bool {
                self.0 == *raw
            }
        }

        impl PartialEq<$name> for i64 {
            fn eq(&self, id: &$name) -> bool {
                *self == id.0
            }
        }
    )*};
}

typed_ids! {
    /// An account.
    UserId => User;
    /// A performance.
    PerformanceId => Performance;
    /// One session (date and time) of a performance.
    SessionId => Session;
    /// A seat of a venue.
    SeatId => Seat;
    /// A reservation: held, paying, confirmed or ended.
    ReservationId => Reservation;
    /// A coupon the box office issued.
    CouponId => Coupon;
    /// A buyer's request for seats of a sold-out session.
    WaitlistEntryId => WaitlistEntry;
}

/// Decodes an ID argument that must denote a `T`; anything else is BAD_USER_INPUT naming
/// the argument.
pub fn expect_id<T: TypedId>(id: &ID, argument: &str) -> ApiResult<T> {
    expect(T::KIND, id, argument).map(T::from_raw)
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

    #[test]
    fn typed_ids_decode_only_as_their_own_kind() {
        let id = SessionId(7).global();
        assert_eq!(expect_id::<SessionId>(&id, "sessionId").ok(), Some(SessionId(7)));
        assert!(expect_id::<ReservationId>(&id, "reservationId").is_err());
        assert_eq!(SessionId(7), 7_i64);
        assert_eq!(sea_orm::Value::from(UserId(3)), sea_orm::Value::from(3_i64));
    }
}
