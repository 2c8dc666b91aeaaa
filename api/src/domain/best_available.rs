//! Choosing the best `n` adjacent seats of a grade, the way a box-office clerk would: the
//! frontmost section and row, as close to the middle of the row as possible, and never
//! leaving a single seat stranded between taken seats when another choice exists (nobody
//! buys the lone seat, so it would go unsold).

use chrono::{DateTime, Utc};
use entity::{SeatStatus, seat, section, session_seat};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
};

use crate::error::{ApiError, ApiResult};

/// One seat as the chooser sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub seat_id: i64,
    pub section_position: i32,
    pub section_id: i64,
    pub row_index: i32,
    pub number: i32,
    pub free: bool,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    seat_id: i64,
    section_position: i32,
    section_id: i64,
    row_index: i32,
    number: i32,
    status: SeatStatus,
    hold_expires_at: Option<DateTime<Utc>>,
}

/// Lower is better: stranding a seat, then section, row, distance from the row's middle.
type Score = (bool, i32, i32, i64);

/// The seats of `grade` a public hold can take now: a lapsed hold's seats count as free only
/// while nobody waits in the session's line (`anyone_waiting`, which the caller reads with
/// `waitlist::anyone_waiting`: the waitlist uses this module, not the other way round).
/// While someone waits, the hold batch refuses them (they go to the line through the
/// sweeper), so choosing them would only fail again on every retry while other seats are
/// free.
pub async fn holdable_candidates(
    db: &impl ConnectionTrait,
    session_id: i64,
    grade: &str,
    now: DateTime<Utc>,
    anyone_waiting: bool,
) -> ApiResult<Vec<Candidate>> {
    let lapsed_count_as_free = !anyone_waiting;
    load(db, session_id, grade, lapsed_count_as_free.then_some(now)).await
}

/// The seats of `grade` in the session, free only when AVAILABLE: what the waitlist can be
/// given (a lapsed hold's seats reach it through the sweeper, which frees them first).
pub async fn available_candidates(
    db: &impl ConnectionTrait,
    session_id: i64,
    grade: &str,
) -> ApiResult<Vec<Candidate>> {
    load(db, session_id, grade, None).await
}

/// The seats of `grade`; a lapsed hold counts as free only when `now` is given.
async fn load(
    db: &impl ConnectionTrait,
    session_id: i64,
    grade: &str,
    now: Option<DateTime<Utc>>,
) -> ApiResult<Vec<Candidate>> {
    let rows: Vec<Row> = session_seat::Entity::find()
        .select_only()
        .column_as(session_seat::Column::SeatId, "seat_id")
        .column_as(section::Column::Position, "section_position")
        .column_as(seat::Column::SectionId, "section_id")
        .column_as(seat::Column::RowIndex, "row_index")
        .column_as(seat::Column::Number, "number")
        .column_as(session_seat::Column::Status, "status")
        .column_as(session_seat::Column::HoldExpiresAt, "hold_expires_at")
        .join(JoinType::InnerJoin, session_seat::Relation::Seat.def())
        .join(JoinType::InnerJoin, seat::Relation::Section.def())
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(seat::Column::Grade.eq(grade))
        .order_by_asc(section::Column::Position)
        .order_by_asc(seat::Column::RowIndex)
        .order_by_asc(seat::Column::Number)
        .into_model()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Candidate {
            seat_id: row.seat_id,
            section_position: row.section_position,
            section_id: row.section_id,
            row_index: row.row_index,
            number: row.number,
            free: row.status == SeatStatus::Available
                || (row.status == SeatStatus::Held
                    && now.is_some_and(|now| row.hold_expires_at.is_some_and(|at| at < now))),
        })
        .collect())
}

/// The best block of `count` adjacent free seats in one row, or `None` when there is none.
/// `candidates` must be ordered by section, row and number (as [`holdable_candidates`]
/// returns them).
pub fn choose(candidates: &[Candidate], count: usize) -> Option<Vec<i64>> {
    if count == 0 {
        return None;
    }
    let mut best: Option<(Score, Vec<i64>)> = None;
    for row in candidates.chunk_by(|a, b| a.section_id == b.section_id && a.row_index == b.row_index) {
        let (first, last) = (row.first()?.number, row.last()?.number);
        let middle_twice = i64::from(first + last);
        for window in row.windows(count) {
            let adjacent = window.windows(2).all(|pair| pair[1].number == pair[0].number + 1);
            if !adjacent || !window.iter().all(|seat| seat.free) {
                continue;
            }
            let start = row.iter().position(|s| s.seat_id == window[0].seat_id).unwrap_or(0);
            let end = start + count;
            let strands = |gap: &[Candidate]| gap.len() == 1;
            // The free run on each side of the window, up to the next taken seat or the aisle.
            let left = row[..start].iter().rev().take_while(|s| s.free).count();
            let right = row[end..].iter().take_while(|s| s.free).count();
            let stranding = strands(&row[start - left..start]) || strands(&row[end..end + right]);
            let centre_twice = i64::from(window[0].number + window[count - 1].number);
            let score = (
                stranding,
                window[0].section_position,
                window[0].row_index,
                (centre_twice - middle_twice).abs(),
            );
            if best.as_ref().is_none_or(|(current, _)| score < *current) {
                best = Some((score, window.iter().map(|s| s.seat_id).collect()));
            }
        }
    }
    best.map(|(_, seats)| seats)
}

/// BAD_USER_INPUT for a count outside what one buyer may hold.
pub fn check_count(count: i64, max: usize) -> ApiResult<usize> {
    if count < 1 || count as usize > max {
        return Err(ApiError::bad_input(
            "count",
            format!("choose between 1 and {max} seats"),
        ));
    }
    Ok(count as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per string: `.` free, `x` taken; section 0, rows front to back.
    fn hall(rows: &[&str]) -> Vec<Candidate> {
        let mut id = 0;
        rows.iter()
            .enumerate()
            .flat_map(|(row, seats)| {
                seats
                    .chars()
                    .enumerate()
                    .map(|(n, c)| {
                        id += 1;
                        Candidate {
                            seat_id: id,
                            section_position: 0,
                            section_id: 1,
                            row_index: row as i32,
                            number: n as i32 + 1,
                            free: c == '.',
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_front_row_centre_comes_first() {
        let seats = hall(&["..........", ".........."]);
        assert_eq!(choose(&seats, 2), Some(vec![5, 6]));
    }

    #[test]
    fn a_full_front_row_sends_buyers_back() {
        let seats = hall(&["xxxxxxxxxx", ".........."]);
        assert_eq!(choose(&seats, 3), Some(vec![14, 15, 16]));
    }

    #[test]
    fn no_single_seat_is_stranded_when_another_choice_exists() {
        // Free: 1-3 and 6-9. Any pair in 1-3 strands a seat, as does 7-8; 6-7 and 8-9 do not.
        let seats = hall(&["...xx....x"]);
        let chosen = choose(&seats, 2).expect("a choice");
        assert!(chosen == vec![6, 7] || chosen == vec![8, 9], "{chosen:?}");
        // When every choice strands a seat, the best of them is still offered.
        let seats = hall(&["...xx...x."]);
        assert!(choose(&seats, 2).is_some());
    }

    #[test]
    fn nothing_is_chosen_without_enough_adjacent_seats() {
        let seats = hall(&[".x.x.x.x.x"]);
        assert_eq!(choose(&seats, 2), None);
        assert_eq!(choose(&seats, 1).map(|s| s.len()), Some(1));
    }
}
