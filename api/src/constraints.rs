//! What a client is told when a write breaks one of the database's own constraints.
//!
//! The constraints are the last line of defence (a seat in one live reservation, one coupon
//! copy per buyer, one review per performance), so a violation is an answer to the client,
//! not an internal error. Each constraint a client can reach is named once in [`KNOWN`]
//! with its code and message; the database's error text itself never reaches a client.
//!
//! PostgreSQL names the violated constraint in its message; SQLite names the columns of a
//! unique one (`UNIQUE constraint failed: reviews.user_id, reviews.performance_id`) and
//! nothing for a foreign key. So a foreign-key violation on SQLite falls back to what the
//! caller says it means (see [`ApiError::from_db_conflict`]).

use sea_orm::{DbErr, RuntimeErr, SqlErr};

use crate::error::ApiError;

impl ApiError {
    /// Maps a database error: a violated constraint becomes the answer
    /// [`KNOWN`] gives it, or CONFLICT with `what` as the explanation a
    /// client can act on (e.g. "the venue still has performances") when the database does not
    /// say which constraint it was; anything else is internal.
    pub fn from_db_conflict(err: DbErr, what: &str) -> Self {
        answer(err, what)
    }
}

/// The answer a violated constraint gives.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// CONFLICT, with a message the client can act on.
    Conflict(&'static str),
    /// NOT_FOUND: a row the write refers to does not exist (names what).
    NotFound(&'static str),
}

/// One constraint a client's write can break.
#[derive(Debug)]
pub struct Constraint {
    /// The name PostgreSQL reports: ours (`uq_…`) or its own default for an unnamed one
    /// (`{table}_{column}_key`, `{table}_{column}_fkey`).
    pub postgres: &'static str,
    /// How SQLite lists a unique constraint's columns; `None` for foreign keys, which SQLite
    /// does not name.
    pub sqlite: Option<&'static str>,
    pub answer: Answer,
}

const fn unique(postgres: &'static str, sqlite: &'static str, message: &'static str) -> Constraint {
    Constraint {
        postgres,
        sqlite: Some(sqlite),
        answer: Answer::Conflict(message),
    }
}

const fn foreign(postgres: &'static str, answer: Answer) -> Constraint {
    Constraint {
        postgres,
        sqlite: None,
        answer,
    }
}

/// Every constraint a client's write can reach, with what the client is told.
pub const KNOWN: &[Constraint] = &[
    unique(
        "users_email_key",
        "users.email",
        "an account with this email already exists",
    ),
    unique(
        "users_kakao_id_key",
        "users.kakao_id",
        "this Kakao account is linked to another user",
    ),
    unique(
        "uq_seats_position",
        "seats.section_id, seats.row_index, seats.number",
        "two seats of the layout share a position",
    ),
    unique(
        "uq_performance_cast_role",
        "performance_cast.performance_id, performance_cast.cast_member_id, performance_cast.role",
        "this cast member already plays this role in this performance",
    ),
    unique(
        "uq_reservations_idempotency",
        "reservations.user_id, reservations.idempotency_key",
        "this idempotency key is being used by another request",
    ),
    unique(
        "uq_reservation_seats_live",
        "reservation_seats.session_id, reservation_seats.seat_id",
        "a seat is already in another reservation",
    ),
    unique(
        "uq_user_coupons_one_per_buyer",
        "user_coupons.coupon_id, user_coupons.user_id",
        "you have already claimed this coupon",
    ),
    unique(
        "uq_waitlist_entries_live",
        "waitlist_entries.session_id, waitlist_entries.user_id",
        "you are already on this session's waitlist",
    ),
    unique(
        "uq_reviews_user_performance",
        "reviews.user_id, reviews.performance_id",
        "you have already reviewed this performance",
    ),
    foreign(
        "performances_venue_id_fkey",
        Answer::Conflict("the venue still has performances"),
    ),
    foreign(
        "performance_cast_cast_member_id_fkey",
        Answer::Conflict("the cast member still plays in a performance"),
    ),
    foreign(
        "sessions_performance_id_fkey",
        Answer::Conflict("the performance still has sessions"),
    ),
    foreign(
        "reservations_session_id_fkey",
        Answer::Conflict("the session has reservations"),
    ),
    foreign("coupons_performance_id_fkey", Answer::NotFound("performance")),
    foreign("reviews_performance_id_fkey", Answer::NotFound("performance")),
];

/// Whether `err` is a unique or foreign-key violation; its database message when it is.
fn violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message) | SqlErr::ForeignKeyConstraintViolation(message)) => {
            Some(message)
        }
        _ => sqlite_foreign_key(err),
    }
}

/// SQLite reports a parent row deleted from under its children with the extended code
/// SQLITE_CONSTRAINT_TRIGGER (1811), which SeaORM does not classify; its message is the
/// same as for any other foreign-key violation.
fn sqlite_foreign_key(err: &DbErr) -> Option<String> {
    let (DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause))) = err else {
        return None;
    };
    let database = cause.as_database_error()?;
    (database.message() == "FOREIGN KEY constraint failed").then(|| database.message().to_string())
}

/// The known constraint a database message names, if any.
fn named_in(message: &str) -> Option<&'static Constraint> {
    KNOWN.iter().find(|c| {
        message.contains(&format!("\"{}\"", c.postgres))
            || c.sqlite
                .is_some_and(|columns| message.trim_end().ends_with(&format!("constraint failed: {columns}")))
    })
}

impl Answer {
    fn into_error(self) -> ApiError {
        match self {
            Self::Conflict(message) => ApiError::Conflict(message.into()),
            Self::NotFound(what) => ApiError::NotFound(what),
        }
    }
}

/// What a database error means to a client: a known constraint's answer, CONFLICT with
/// `fallback` for a violation the table does not name (a SQLite foreign key), or an internal
/// error for anything else.
pub fn answer(err: DbErr, fallback: &str) -> ApiError {
    match violation(&err) {
        Some(message) => match named_in(&message) {
            Some(constraint) => constraint.answer.into_error(),
            None => {
                tracing::debug!(violation = %message, "a constraint not in the table was violated");
                ApiError::Conflict(fallback.to_string())
            }
        },
        // Not a constraint: unreachable, a value out of range, or internal, as for any error.
        None => ApiError::from(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_are_found_by_either_database_s_wording() {
        let postgres = "duplicate key value violates unique constraint \"uq_reviews_user_performance\"";
        let sqlite = "UNIQUE constraint failed: reviews.user_id, reviews.performance_id";
        for message in [postgres, sqlite] {
            let found = named_in(message).map(|c| c.postgres);
            assert_eq!(found, Some("uq_reviews_user_performance"), "{message}");
        }
        let fk = "update or delete on table \"venues\" violates foreign key constraint \
                  \"performances_venue_id_fkey\" on table \"performances\"";
        assert_eq!(named_in(fk).map(|c| c.postgres), Some("performances_venue_id_fkey"));
        assert!(named_in("FOREIGN KEY constraint failed").is_none());
        // A prefix of a longer column list is another constraint.
        assert!(named_in("UNIQUE constraint failed: users.email_lower").is_none());
    }

    #[test]
    fn every_constraint_is_listed_once() {
        for (i, c) in KNOWN.iter().enumerate() {
            assert!(
                KNOWN[i + 1..].iter().all(|other| other.postgres != c.postgres),
                "{} is listed twice",
                c.postgres
            );
        }
    }
}
