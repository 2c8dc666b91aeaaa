//! Relay cursor connections over keyset pages.
//!
//! A cursor names the list it came from and the (sort key, id) of its row, base64url-encoded.
//! Pagination is forward-only (`first`/`after`), which is what infinite lists need and what
//! keyset paging does well.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, CursorType, Edge};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::config::GraphqlSettings;
use crate::domain::paging::{Page, PageRequest};
use crate::error::{ApiError, ApiResult};

/// The position of a row in one list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "l")]
    list: String,
    #[serde(rename = "k")]
    key: String,
    #[serde(rename = "i")]
    id: i64,
}

impl CursorType for Cursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "malformed cursor".to_string())?;
        serde_json::from_slice(&bytes).map_err(|_| "malformed cursor".to_string())
    }

    fn encode_cursor(&self) -> String {
        // Serializing a struct of strings and an integer cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// A list that can be paged: its name (so that a cursor of another list is refused) and how
/// its sort key is written into and read from a cursor.
pub trait Keyset {
    const LIST: &'static str;
    type Key;
    type Row;
    fn position(row: &Self::Row) -> (String, i64);
    fn parse_key(key: &str) -> Option<Self::Key>;
}

/// A row of a list paged by id alone (the audit log, reservations, tickets…):
/// the list's name and the row's id are all its cursor needs.
pub trait ListedById {
    /// The list's name in its cursors.
    const LIST: &'static str;
    fn id(&self) -> i64;
}

/// The keyset of every list of `R` paged by id alone.
pub struct ById<R>(std::marker::PhantomData<R>);

impl<R: ListedById> Keyset for ById<R> {
    const LIST: &'static str = R::LIST;
    type Key = ();
    type Row = R;
    fn position(row: &R) -> (String, i64) {
        (String::new(), row.id())
    }
    fn parse_key(_: &str) -> Option<()> {
        Some(())
    }
}

/// Checks `first`: the default page size when absent, refused when negative or too large.
pub fn page_size(settings: &GraphqlSettings, first: Option<i32>) -> ApiResult<u64> {
    match first {
        None => Ok(u64::from(settings.default_page_size)),
        Some(n) if n < 0 => Err(ApiError::bad_input("first", "first must not be negative")),
        Some(n) if n as u32 > settings.max_page_size => Err(ApiError::bad_input(
            "first",
            format!("first must be at most {}", settings.max_page_size),
        )),
        Some(n) => Ok(n as u64),
    }
}

/// Checks `first` and `after` and turns them into a page request.
pub fn page_request<K: Keyset>(
    settings: &GraphqlSettings,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<PageRequest<K::Key>> {
    let first = page_size(settings, first)?;
    let after = match after {
        None => None,
        Some(raw) => {
            let cursor = Cursor::decode_cursor(&raw)
                .ok()
                .filter(|c| c.list == K::LIST)
                .ok_or_else(|| ApiError::bad_input("after", "after is not a cursor of this list"))?;
            let key = K::parse_key(&cursor.key)
                .ok_or_else(|| ApiError::bad_input("after", "after is not a cursor of this list"))?;
            Some((key, cursor.id))
        }
    };
    Ok(PageRequest { first, after })
}

/// The cursor of the row at `offset` in a ranked list (search results), which has no sort
/// key to resume from: `key` fingerprints the request, so a cursor of another request is
/// refused rather than silently paging through different results.
pub fn offset_cursor(list: &str, key: &str, offset: usize) -> Cursor {
    Cursor {
        list: list.to_string(),
        key: key.to_string(),
        id: offset as i64,
    }
}

/// The offset after which to continue, from an [`offset_cursor`] of the same list and key.
pub fn offset_after(list: &str, key: &str, after: &str) -> ApiResult<usize> {
    Cursor::decode_cursor(after)
        .ok()
        .filter(|c| c.list == list && c.key == key && c.id >= 0)
        .map(|c| c.id as usize + 1)
        .ok_or_else(|| ApiError::bad_input("after", "after is not a cursor of this search"))
}

/// Wraps a page of rows as a connection, converting each row with `node`.
pub fn connection<K: Keyset, N: OutputType>(
    page: Page<K::Row>,
    mut node: impl FnMut(K::Row) -> N,
) -> Connection<Cursor, N> {
    let mut connection = Connection::new(false, page.has_next_page);
    connection.edges = page
        .items
        .into_iter()
        .map(|row| {
            let (key, id) = K::position(&row);
            Edge::new(
                Cursor {
                    list: K::LIST.to_string(),
                    key,
                    id,
                },
                node(row),
            )
        })
        .collect();
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;
    impl Keyset for Names {
        const LIST: &'static str = "names";
        type Key = String;
        type Row = (String, i64);
        fn position(row: &Self::Row) -> (String, i64) {
            row.clone()
        }
        fn parse_key(key: &str) -> Option<String> {
            Some(key.to_string())
        }
    }

    #[test]
    fn cursors_round_trip_and_are_checked() {
        let settings = GraphqlSettings::default();
        let cursor = Cursor {
            list: "names".into(),
            key: "가".into(),
            id: 7,
        }
        .encode_cursor();
        let request = page_request::<Names>(&settings, Some(5), Some(cursor)).ok();
        assert_eq!(request.and_then(|r| r.after), Some(("가".to_string(), 7)));
        let other = Cursor {
            list: "other".into(),
            key: "x".into(),
            id: 1,
        }
        .encode_cursor();
        assert!(page_request::<Names>(&settings, None, Some(other)).is_err());
        assert!(page_request::<Names>(&settings, None, Some("%%%".into())).is_err());
        assert!(page_request::<Names>(&settings, Some(100_000), None).is_err());
        assert!(page_request::<Names>(&settings, Some(-1), None).is_err());
    }
}
