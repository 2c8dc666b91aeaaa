//! Which free seats a waitlist request would get: the best-available chooser's rules
//! ([`best_available::choose`]) over the grades the request accepts. Pure, so that the
//! hand-over can try every request in line against one read of the seats.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::domain::best_available::{self, Candidate};

/// What a request in line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Want<'a> {
    pub count: usize,
    /// `None`: any grade within `max_price`.
    pub grade: Option<&'a str>,
    /// The most one seat may cost; `None`: any price.
    pub max_price: Option<i32>,
}

/// A session's seats by grade with their prices, as one transaction read them; seats given
/// away during a hand-over are taken out as it goes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pool {
    by_grade: BTreeMap<String, Vec<Candidate>>,
    prices: HashMap<String, i32>,
}

impl Pool {
    /// `by_grade`: each priced grade's seats, ordered as [`best_available::available_candidates`]
    /// returns them.
    pub fn new(by_grade: BTreeMap<String, Vec<Candidate>>, prices: HashMap<String, i32>) -> Self {
        Self { by_grade, prices }
    }

    /// The seats `want` would get now, or `None`.
    pub fn pick(&self, want: Want<'_>) -> Option<Vec<i64>> {
        let affordable = |grade: &str| {
            self.prices
                .get(grade)
                .is_some_and(|price| want.max_price.is_none_or(|max| *price <= max))
        };
        let mut seats: Vec<Candidate> = self
            .by_grade
            .iter()
            .filter(|(grade, _)| want.grade.is_none_or(|wanted| wanted == grade.as_str()) && affordable(grade))
            .flat_map(|(_, seats)| seats.iter().cloned())
            .collect();
        // Grades merged back into hall order: the chooser reads rows as runs of this order.
        seats.sort_by_key(|s| (s.section_position, s.section_id, s.row_index, s.number));
        best_available::choose(&seats, want.count)
    }

    /// Marks `seats` as no longer free.
    pub fn take(&mut self, seats: &[i64]) {
        let seats: HashSet<i64> = seats.iter().copied().collect();
        for candidate in self.by_grade.values_mut().flatten() {
            if seats.contains(&candidate.seat_id) {
                candidate.free = false;
            }
        }
    }

    /// Whether any seat is still free.
    pub fn any_free(&self) -> bool {
        self.by_grade.values().flatten().any(|s| s.free)
    }

    /// Each of `seats` with its grade and the session's price for it.
    pub fn priced(&self, seats: &[i64]) -> Vec<(i64, String, i32)> {
        seats
            .iter()
            .filter_map(|id| {
                let (grade, _) = self
                    .by_grade
                    .iter()
                    .find(|(_, candidates)| candidates.iter().any(|c| c.seat_id == *id))?;
                Some((*id, grade.clone(), *self.prices.get(grade)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row 0 is VIP at 150,000, rows 1.. are R at 100,000; `.` free, `x` taken.
    fn pool(rows: &[&str]) -> Pool {
        let mut by_grade: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
        let mut id = 0;
        for (row, seats) in rows.iter().enumerate() {
            let grade = if row == 0 { "VIP" } else { "R" };
            for (n, c) in seats.chars().enumerate() {
                id += 1;
                by_grade.entry(grade.into()).or_default().push(Candidate {
                    seat_id: id,
                    section_position: 0,
                    section_id: 1,
                    row_index: row as i32,
                    number: n as i32 + 1,
                    free: c == '.',
                });
            }
        }
        Pool::new(
            by_grade,
            HashMap::from([("VIP".into(), 150_000), ("R".into(), 100_000)]),
        )
    }

    fn want(count: usize, grade: Option<&str>, max_price: Option<i32>) -> Want<'_> {
        Want {
            count,
            grade,
            max_price,
        }
    }

    #[test]
    fn a_request_gets_seats_of_its_grade_only() {
        let hall = pool(&["..xx", "xxxx"]);
        assert_eq!(hall.pick(want(2, Some("VIP"), None)), Some(vec![1, 2]));
        assert_eq!(hall.pick(want(1, Some("R"), None)), None);
    }

    #[test]
    fn a_price_cap_rules_out_dearer_grades() {
        let hall = pool(&["....", "xx.x"]);
        assert_eq!(hall.pick(want(1, None, Some(100_000))), Some(vec![7]));
        assert_eq!(hall.pick(want(2, None, Some(100_000))), None);
        assert_eq!(hall.pick(want(1, Some("VIP"), Some(149_999))), None);
        // Without a grade or a cap the front row comes first (at its edge: the centre pair
        // would strand a seat on each side).
        assert_eq!(hall.pick(want(2, None, None)), Some(vec![1, 2]));
    }

    #[test]
    fn several_seats_must_be_side_by_side() {
        let hall = pool(&["x.x.", ".x.x"]);
        assert_eq!(hall.pick(want(2, None, None)), None);
        assert!(hall.pick(want(1, None, None)).is_some());
    }

    #[test]
    fn seats_taken_by_an_earlier_request_are_not_offered_again() {
        let mut hall = pool(&["xx..", "xxxx"]);
        let first = hall.pick(want(2, None, None)).expect("two seats");
        hall.take(&first);
        assert_eq!(hall.pick(want(1, None, None)), None);
        assert!(!hall.any_free());
        assert_eq!(
            hall.priced(&first),
            vec![(3, "VIP".into(), 150_000), (4, "VIP".into(), 150_000)]
        );
    }
}
