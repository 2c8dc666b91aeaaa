//! Which hold requests of a batch succeed: a pure function of what the batch read under the
//! locks, applied in arrival order, so that each request gets exactly the answer it would
//! have had alone, after the ones before it.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::SeatStatus;

use super::HoldPolicy;
use crate::error::ApiError;

/// One seat of the session as the batch found it, under the session lock.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SeatState {
    pub status: SeatStatus,
    pub reservation_id: Option<i64>,
    pub hold_expires_at: Option<DateTime<Utc>>,
}

impl SeatState {
    /// A lapsed hold is up for grabs at once, sweeper or not (unless the session has a
    /// waitlist: see `batch::apply`).
    pub(super) fn lapsed(&self, now: DateTime<Utc>) -> bool {
        self.status == SeatStatus::Held && self.hold_expires_at.is_some_and(|at| at < now)
    }

    fn free(&self, now: DateTime<Utc>) -> bool {
        self.status == SeatStatus::Available || self.lapsed(now)
    }
}

/// A buyer's standing when the batch began, read under the buyer's lock.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Buyer {
    /// Expiry of each live reservation (HELD and not lapsed: `Some`; PAYING: `None`).
    pub live: Vec<Option<DateTime<Utc>>>,
    /// Seats the buyer holds or owns in this session.
    pub seats_in_session: usize,
}

/// What a request asks for, as far as the decision goes.
#[derive(Debug, Clone)]
pub(super) struct Ask<'a> {
    pub user_id: i64,
    pub seat_ids: &'a [i64],
}

/// A request that wins: the seats it takes, and those of them that were lapsed holds
/// (their old reservations' seat rows must be retired), and how many came from AVAILABLE.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Win {
    pub reclaimed: Vec<(i64, Option<i64>)>,
    pub from_available: usize,
}

/// Decides every request in order. `seats` must hold every seat any request names; a seat it
/// lacks is not in the session.
pub(super) fn decide(
    policy: HoldPolicy,
    now: DateTime<Utc>,
    asks: &[Ask<'_>],
    mut seats: HashMap<i64, SeatState>,
    mut buyers: HashMap<i64, Buyer>,
) -> Vec<Result<Win, ApiError>> {
    let mut taken_here: BTreeSet<i64> = BTreeSet::new();
    asks.iter()
        .map(|ask| {
            let buyer = buyers.entry(ask.user_id).or_default();
            if let Some(refusal) = live_limit(policy, &buyer.live, now) {
                return Err(refusal);
            }
            if buyer.seats_in_session + ask.seat_ids.len() > policy.max_seats_per_buyer {
                return Err(super::over_limit(policy, buyer.seats_in_session));
            }
            let mut unavailable = Vec::new();
            for id in ask.seat_ids {
                match seats.get(id) {
                    None => return Err(ApiError::bad_input("seatIds", "a seat does not belong to this session")),
                    Some(seat) if taken_here.contains(id) || !seat.free(now) => unavailable.push(*id),
                    Some(_) => {}
                }
            }
            if !unavailable.is_empty() {
                return Err(ApiError::SeatUnavailable(unavailable));
            }
            let mut win = Win {
                reclaimed: Vec::new(),
                from_available: 0,
            };
            for id in ask.seat_ids {
                let seat = seats.get_mut(id).expect("checked above");
                if seat.lapsed(now) {
                    win.reclaimed.push((*id, seat.reservation_id));
                } else {
                    win.from_available += 1;
                }
                seat.status = SeatStatus::Held;
                taken_here.insert(*id);
            }
            buyer.live.push(None);
            buyer.seats_in_session += ask.seat_ids.len();
            Ok(win)
        })
        .collect()
}

/// RATE_LIMITED while the buyer already has `max_live_reservations` reservations waiting for
/// payment, with `retryAfter` until the first of them lapses.
fn live_limit(policy: HoldPolicy, live: &[Option<DateTime<Utc>>], now: DateTime<Utc>) -> Option<ApiError> {
    if live.len() < policy.max_live_reservations {
        return None;
    }
    // The first of them to lapse makes room, unless it is paid first.
    let retry_after = live
        .iter()
        .flatten()
        .min()
        .and_then(|at| (*at - now).to_std().ok())
        .unwrap_or(std::time::Duration::from_secs(60))
        .max(std::time::Duration::from_secs(1));
    Some(ApiError::RateLimited {
        message: format!(
            "you already have {} reservations waiting for payment; pay for or release one first",
            live.len()
        ),
        retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HoldPolicy {
        HoldPolicy {
            hold_for: chrono::Duration::minutes(10),
            max_seats_per_buyer: 4,
            max_live_reservations: 2,
        }
    }

    fn available(ids: impl IntoIterator<Item = i64>) -> HashMap<i64, SeatState> {
        ids.into_iter()
            .map(|id| {
                let state = SeatState {
                    status: SeatStatus::Available,
                    reservation_id: None,
                    hold_expires_at: None,
                };
                (id, state)
            })
            .collect()
    }

    fn ask(user_id: i64, seat_ids: &[i64]) -> Ask<'_> {
        Ask { user_id, seat_ids }
    }

    fn code(result: &Result<Win, ApiError>) -> &'static str {
        match result {
            Ok(_) => "OK",
            Err(ApiError::SeatUnavailable(_)) => "SEAT_UNAVAILABLE",
            Err(ApiError::RateLimited { .. }) => "RATE_LIMITED",
            Err(ApiError::BadUserInput { .. }) => "BAD_USER_INPUT",
            Err(_) => "OTHER",
        }
    }

    #[test]
    fn earlier_requests_win_and_later_ones_see_their_seats_taken() {
        let now = Utc::now();
        let asks = [ask(1, &[1, 2]), ask(2, &[2, 3]), ask(3, &[3, 4])];
        let results = decide(policy(), now, &asks, available(1..=4), HashMap::new());
        assert_eq!(
            results.iter().map(code).collect::<Vec<_>>(),
            ["OK", "SEAT_UNAVAILABLE", "OK"]
        );
        match &results[1] {
            Err(ApiError::SeatUnavailable(ids)) => assert_eq!(ids, &[2]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_buyer_cannot_pass_the_limits_with_several_requests_in_one_batch() {
        let now = Utc::now();
        let asks = [ask(1, &[1, 2]), ask(1, &[3, 4]), ask(1, &[5])];
        let results = decide(policy(), now, &asks, available(1..=6), HashMap::new());
        // Two live reservations at most.
        assert_eq!(
            results.iter().map(code).collect::<Vec<_>>(),
            ["OK", "OK", "RATE_LIMITED"]
        );

        let policy = HoldPolicy {
            max_live_reservations: 10,
            ..policy()
        };
        let asks = [ask(1, &[1, 2, 3]), ask(1, &[4, 5]), ask(1, &[6])];
        let results = decide(policy, now, &asks, available(1..=6), HashMap::new());
        // Four seats at most in the session: 3 + 2 is over, 3 + 1 is not.
        assert_eq!(
            results.iter().map(code).collect::<Vec<_>>(),
            ["OK", "BAD_USER_INPUT", "OK"]
        );
    }

    #[test]
    fn what_the_buyer_already_has_counts() {
        let now = Utc::now();
        let buyers = HashMap::from([(
            1,
            Buyer {
                live: vec![Some(now + chrono::Duration::seconds(90)), None],
                seats_in_session: 0,
            },
        )]);
        let results = decide(policy(), now, &[ask(1, &[1])], available(1..=2), buyers);
        match &results[0] {
            Err(ApiError::RateLimited { retry_after, .. }) => assert!(retry_after.as_secs() >= 89),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lapsed_holds_are_taken_over_and_reported_for_retiring() {
        let now = Utc::now();
        let mut seats = available(1..=2);
        seats.insert(
            3,
            SeatState {
                status: SeatStatus::Held,
                reservation_id: Some(77),
                hold_expires_at: Some(now - chrono::Duration::seconds(1)),
            },
        );
        seats.insert(
            4,
            SeatState {
                status: SeatStatus::Held,
                reservation_id: Some(78),
                hold_expires_at: Some(now + chrono::Duration::seconds(60)),
            },
        );
        let asks = [ask(1, &[2, 3]), ask(2, &[4]), ask(3, &[9])];
        let results = decide(policy(), now, &asks, seats, HashMap::new());
        assert_eq!(
            results[0].as_ref().expect("the first wins"),
            &Win {
                reclaimed: vec![(3, Some(77))],
                from_available: 1
            }
        );
        assert_eq!(code(&results[1]), "SEAT_UNAVAILABLE");
        assert_eq!(code(&results[2]), "BAD_USER_INPUT");
    }
}
