//! One error type for everything a resolver can answer with, mapped to GraphQL errors that
//! carry `extensions.code`.
//!
//! Internal failures (database, I/O) are logged with their cause where they become GraphQL
//! errors (`graphql::errors`), inside the request's tracing span (which carries the request
//! id), and reach the client only as a generic message: a database error's text never
//! becomes a client message.
//!
//! `ApiError` deliberately does not implement `Display`: async-graphql converts any
//! `Display` type into an error without a code, and that conversion must never be the one
//! `?` picks. Resolvers return `async_graphql::Result` and `?` goes through
//! `From<ApiError>` in `graphql::errors`, the one place that knows GraphQL's error shape.

use sea_orm::DbErr;

/// Machine-readable error codes, stable API for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    SeatUnavailable,
    RateLimited,
    AccountDormant,
    CouponSoldOut,
    PaymentFailed,
    PaymentUnavailable,
    PaymentPending,
    /// The document costs more than a limit allows (size, tokens, fragments, aliases,
    /// root fields, estimated cost); refused before anything runs.
    QueryTooComplex,
    /// The document nests deeper than allowed; refused before anything runs.
    QueryTooDeep,
    TooManySubscriptions,
    /// The session's waiting room is on and the caller has no admitted ticket.
    WaitingRoomRequired,
    /// The door refuses the ticket: not a payload this service signed.
    TicketInvalid,
    /// The door refuses the ticket: cancelled.
    TicketCancelled,
    /// The door refuses the ticket: cancelled and refunded.
    TicketRefunded,
    /// The door refuses the ticket: it is for another session.
    TicketWrongSession,
    /// The door refuses the ticket: it was transferred, and this payload is the old holder's.
    TicketTransferred,
    /// The service cannot reach its database or Redis right now (restarting, failing over);
    /// the same request may be sent again shortly.
    Unavailable,
    InternalServerError,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::SeatUnavailable => "SEAT_UNAVAILABLE",
            Self::RateLimited => "RATE_LIMITED",
            Self::AccountDormant => "ACCOUNT_DORMANT",
            Self::CouponSoldOut => "COUPON_SOLD_OUT",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::PaymentUnavailable => "PAYMENT_UNAVAILABLE",
            Self::PaymentPending => "PAYMENT_PENDING",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::QueryTooDeep => "QUERY_TOO_DEEP",
            Self::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            Self::WaitingRoomRequired => "WAITING_ROOM_REQUIRED",
            Self::TicketInvalid => "TICKET_INVALID",
            Self::TicketCancelled => "TICKET_CANCELLED",
            Self::TicketRefunded => "TICKET_REFUNDED",
            Self::TicketWrongSession => "TICKET_WRONG_SESSION",
            Self::TicketTransferred => "TICKET_TRANSFERRED",
            Self::Unavailable => "UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// Says why: no log-in, an expired or refused token, wrong credentials.
    Unauthenticated(String),
    Forbidden,
    /// Forbidden, saying why, when the caller could act on it (e.g. "only buyers who
    /// attended may review").
    ForbiddenBecause(&'static str),
    /// Names what was not found, e.g. "performance".
    NotFound(&'static str),
    /// Invalid input; `field` names the offending argument field when there is one.
    BadUserInput {
        field: Option<String>,
        message: String,
    },
    Conflict(String),
    /// These seats (ids) were taken by someone else; nothing was held.
    SeatUnavailable(Vec<i64>),
    /// Too many attempts; the client may retry after `retry_after`.
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The right credentials for an account made dormant after a year unused: it must be
    /// reactivated by a code sent to its email first.
    AccountDormant,
    /// Every copy of the coupon has been claimed.
    CouponSoldOut,
    /// The payment provider refused the payment; its message, which the buyer may see.
    PaymentFailed(String),
    /// The payment provider cannot be reached now; nothing was charged.
    PaymentUnavailable,
    /// The payment's outcome is not known yet; reconciliation settles it shortly.
    PaymentPending,
    /// A refund's outcome is not known yet: repeating the same request finishes it (the
    /// provider is asked again with the same idempotency key, so nothing is refunded twice).
    RefundPending,
    /// A WebSocket already runs this many operations; complete one before starting another.
    TooManySubscriptions(usize),
    /// The session's waiting room is on: hold only with an ADMITTED ticket
    /// (`joinWaitingRoom`, then wait for admission).
    WaitingRoomRequired,
    /// The door refuses a ticket, saying why.
    TicketRefused(TicketRefusal),
    /// A store the service depends on cannot be reached: the database (connection refused
    /// or lost, no connection free in time) or the shared store (Redis) that rate limits and
    /// revoked sessions live in. Almost always nothing was done; a connection lost during a
    /// commit leaves it unknown, which is why the message points to idempotency keys. The
    /// cause is logged, never sent.
    Unavailable(anyhow::Error),
    /// Anything the client cannot fix. The cause is logged, never sent.
    Internal(anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Why the door refuses a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketRefusal {
    /// Not a payload this service signed (or one for a ticket that does not exist).
    Invalid,
    Cancelled,
    /// Cancelled, and its price went back to the buyer.
    Refunded,
    /// For another session, starting at the time given (box-office local time).
    WrongSession(String),
    /// Transferred to another account since this payload was issued.
    Transferred,
    /// Its buyer asked for its money back, and the refund is not settled yet.
    RefundUnderWay,
}

impl ApiError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// The shared store (Redis) or another dependency could not be reached.
    pub fn unavailable(err: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable(err.into())
    }

    /// The message a client sees.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(message) => message.clone(),
            Self::Forbidden => "you are not allowed to do this".into(),
            Self::ForbiddenBecause(reason) => (*reason).into(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::BadUserInput { message, .. } => message.clone(),
            Self::Conflict(message) => message.clone(),
            Self::SeatUnavailable(seats) if seats.is_empty() => "not enough adjacent seats are available".into(),
            Self::SeatUnavailable(seats) => format!("{} of the chosen seats are no longer available", seats.len()),
            Self::RateLimited { message, .. } => message.clone(),
            Self::AccountDormant => "this account is dormant after a year without log-in: \
                request a reactivation code by email (requestReactivation), then reactivateAccount"
                .into(),
            Self::CouponSoldOut => "every copy of this coupon has been claimed".into(),
            Self::PaymentFailed(message) => message.clone(),
            Self::PaymentUnavailable => {
                "payments are unavailable right now; nothing was charged, try again shortly".into()
            }
            Self::PaymentPending => {
                "the payment's outcome is not known yet; the reservation will be confirmed or released shortly".into()
            }
            Self::RefundPending => "the refund's outcome is not known yet; repeat the same request to finish it \
                (nothing is refunded twice)"
                .into(),
            Self::TooManySubscriptions(limit) => {
                format!("this connection already runs {limit} operations; complete one before starting another")
            }
            Self::WaitingRoomRequired => {
                "this session has a waiting room: join it (joinWaitingRoom) and hold once admitted".into()
            }
            Self::TicketRefused(refusal) => match refusal {
                TicketRefusal::Invalid => "this is not a valid Curtain ticket".into(),
                TicketRefusal::Cancelled => "this ticket was cancelled".into(),
                TicketRefusal::Refunded => "this ticket was cancelled and refunded".into(),
                TicketRefusal::WrongSession(starts) => format!("this ticket is for another session, starting {starts}"),
                TicketRefusal::Transferred => {
                    "this ticket was transferred to someone else; ask them for the current QR code".into()
                }
                TicketRefusal::RefundUnderWay => "this ticket's refund is under way; it does not open the door".into(),
            },
            Self::Unavailable(_) => "the service cannot reach a store it depends on right now; try again in a few \
                seconds (a hold or payment sent again with the same idempotency key is never done twice)"
                .into(),
            Self::Internal(_) => "internal server error".into(),
        }
    }

    /// For command-line use: the cause of an internal error, or the client message.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            Self::Internal(cause) => cause,
            Self::Unavailable(cause) => cause,
            other => anyhow::anyhow!(other.message()),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden | Self::ForbiddenBecause(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::BadUserInput { .. } => ErrorCode::BadUserInput,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::SeatUnavailable(_) => ErrorCode::SeatUnavailable,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::AccountDormant => ErrorCode::AccountDormant,
            Self::CouponSoldOut => ErrorCode::CouponSoldOut,
            Self::PaymentFailed(_) => ErrorCode::PaymentFailed,
            Self::PaymentUnavailable => ErrorCode::PaymentUnavailable,
            Self::PaymentPending | Self::RefundPending => ErrorCode::PaymentPending,
            Self::TooManySubscriptions(_) => ErrorCode::TooManySubscriptions,
            Self::WaitingRoomRequired => ErrorCode::WaitingRoomRequired,
            Self::TicketRefused(refusal) => match refusal {
                TicketRefusal::Invalid => ErrorCode::TicketInvalid,
                TicketRefusal::Cancelled => ErrorCode::TicketCancelled,
                TicketRefusal::Refunded | TicketRefusal::RefundUnderWay => ErrorCode::TicketRefunded,
                TicketRefusal::WrongSession(_) => ErrorCode::TicketWrongSession,
                TicketRefusal::Transferred => ErrorCode::TicketTransferred,
            },
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::InternalServerError,
        }
    }
}

/// Bare `?` on a database error is an internal error: logged, not shown. Except a value the
/// database cannot hold (PostgreSQL's class 22, data exception: a date before 4713 BC, say,
/// which SQLite stores as text): that is the caller's input, and says so. Found by fuzzing.
impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if is_data_exception(&err) {
            tracing::warn!(error = %err, "the database refused a value a client sent");
            return Self::BadUserInput {
                field: None,
                message: "a value is outside the range this server can store".into(),
            };
        }
        if is_unreachable(&err) {
            return Self::Unavailable(err.into());
        }
        Self::internal(err)
    }
}

/// The database could not be reached: no connection (refused, reset, timed out waiting for
/// one), a connection exception (SQLSTATE class 08), too many connections (53300), or the
/// server shutting down or starting up (57P01..57P03).
pub fn is_unreachable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::sqlx::postgres::PgDatabaseError;
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(err))
        | DbErr::Exec(RuntimeErr::SqlxError(err))
        | DbErr::Query(RuntimeErr::SqlxError(err)) => err.as_ref(),
        _ => return false,
    };
    match sqlx {
        Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Database(err) => err.try_downcast_ref::<PgDatabaseError>().is_some_and(|err| {
            matches!(err.code(), "57P01" | "57P02" | "57P03" | "53300") || err.code().starts_with("08")
        }),
        _ => false,
    }
}

/// A PostgreSQL error of SQLSTATE class 22 (data exception).
fn is_data_exception(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::postgres::PgDatabaseError;
    let (DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err))) = err else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(err) = err.as_ref() else {
        return false;
    };
    err.try_downcast_ref::<PgDatabaseError>()
        .is_some_and(|err| err.code().starts_with("22"))
}
