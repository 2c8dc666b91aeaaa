//! Keyset pagination: every list is ordered by a sort key plus the primary key, and a page
//! continues strictly after the last (key, id) the client saw. Never OFFSET: deep pages cost
//! the same as the first, and rows inserted meanwhile cause no duplicates or gaps.

/// A request for at most `first` items after an optional position.
#[derive(Debug, Clone)]
pub struct PageRequest<K> {
    pub first: u64,
    pub after: Option<(K, i64)>,
}

/// One page of items and whether more follow.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// Builds a page from a query that fetched `first + 1` rows: the extra row only tells
    /// that another page exists.
    pub fn from_overfetch(mut rows: Vec<T>, first: u64) -> Self {
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Self {
            items: rows,
            has_next_page,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_row_only_signals_a_next_page() {
        let page = Page::from_overfetch(vec![1, 2, 3], 2);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_next_page);
        let page = Page::from_overfetch(vec![1, 2], 2);
        assert!(!page.has_next_page);
    }
}
