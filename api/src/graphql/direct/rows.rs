//! The rows a plan reads below a page of performances: their cast (with each role's member)
//! and their sessions, in **one statement**, with only the columns the plan writes.
//!
//! One statement is one snapshot of the catalog without a transaction around it: where the
//! executor's dataloaders send `BEGIN`, `SET TRANSACTION`, one statement per relation and
//! `COMMIT`, this sends one (on PostgreSQL each of those is a round trip and the server's
//! work). The two relations' rows come as one `UNION ALL` in a fixed column layout, each
//! branch filling its own columns and leaving the other's NULL (both databases type a NULL
//! by the other branch's column).
//!
//! The page's ids come as a `VALUES` list joined in, not an `IN` list: under the generic
//! plan PostgreSQL settles on for a prepared statement, `performance_id IN ($1, …, $20)`
//! compares every row of both tables with each of the twenty parameters, while the join
//! hashes them (or probes the index once each). The rows are sorted here, not by the
//! database, where sorting the union's rows was about a fifth of the statement. `pgbench`
//! of the statement on the bench's catalog: 0.74 ms with the `IN` lists and the sort, 0.34
//! ms with the join and without.
//!
//! Columns a plan does not write are NULL and never decoded: a page of 20 performances has
//! about 160 sessions, and decoding every one of a session's eleven columns (five of them
//! timestamps) by name, as a whole model, was the largest part of a direct answer's time.
//! A value the plan did not select stays `None` here, and writing it would fall back to the
//! executor rather than write anything wrong.

use chrono::{DateTime, Utc};
use entity::{SessionStatus, cast_member, performance_cast, session};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, SimpleExpr, UnionType};
use sea_orm::{
    ColumnAsExpr, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType, QueryResult, QuerySelect, QueryTrait,
    RelationTrait, Select, TryGetable,
};

/// The columns of a session a plan writes, beyond its id and start, which are always read
/// (the rows are sorted by them).
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionColumns {
    pub sales_open_at: bool,
    pub sales_close_at: bool,
    pub status: bool,
    pub available_seats: bool,
    pub total_seats: bool,
}

/// The columns of a cast role and of its member a plan writes (with the member, its id),
/// beyond the role's id and billing order, which are always read (the rows are sorted by
/// them).
#[derive(Debug, Clone, Copy, Default)]
pub struct CastColumns {
    pub role: bool,
    pub member: bool,
    pub member_name: bool,
    pub member_english_name: bool,
    pub member_bio: bool,
}

#[derive(Debug, Default)]
pub struct SessionRow {
    pub performance_id: i64,
    pub id: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub sales_open_at: Option<DateTime<Utc>>,
    pub sales_close_at: Option<DateTime<Utc>>,
    pub status: Option<SessionStatus>,
    pub available_seats: Option<i32>,
    pub total_seats: Option<i32>,
}

/// A cast role with its member's columns.
#[derive(Debug, Default)]
pub struct CastRow {
    pub performance_id: i64,
    pub id: Option<i64>,
    pub role: Option<String>,
    pub billing_order: Option<i32>,
    /// `Some(None)`: a role whose member is missing, which the foreign key forbids.
    pub member_id: Option<Option<i64>>,
    pub member_name: Option<String>,
    pub member_english_name: Option<Option<String>>,
    pub member_bio: Option<Option<String>>,
}

/// What to read: the cast (`None`: not asked for) and the sessions.
pub struct Wanted {
    pub cast: Option<CastColumns>,
    pub sessions: Option<SessionColumns>,
}

/// The result's columns, in this order in both branches.
const KIND: &str = "kind";
const PERFORMANCE_ID: &str = "performance_id";
const ROLE_ID: &str = "role_id";
const BILLING_ORDER: &str = "billing_order";
const ROLE: &str = "role";
const MEMBER_ID: &str = "member_id";
const MEMBER_NAME: &str = "member_name";
const MEMBER_ENGLISH_NAME: &str = "member_english_name";
const MEMBER_BIO: &str = "member_bio";
const SESSION_ID: &str = "session_id";
const STARTS_AT: &str = "starts_at";
const SALES_OPEN_AT: &str = "sales_open_at";
const SALES_CLOSE_AT: &str = "sales_close_at";
const STATUS: &str = "status";
const AVAILABLE_SEATS: &str = "available_seats";
const TOTAL_SEATS: &str = "total_seats";
const CAST_COLUMNS: [&str; 7] = [
    ROLE_ID,
    BILLING_ORDER,
    ROLE,
    MEMBER_ID,
    MEMBER_NAME,
    MEMBER_ENGLISH_NAME,
    MEMBER_BIO,
];
const SESSION_COLUMNS: [&str; 7] = [
    SESSION_ID,
    STARTS_AT,
    SALES_OPEN_AT,
    SALES_CLOSE_AT,
    STATUS,
    AVAILABLE_SEATS,
    TOTAL_SEATS,
];
/// The name both databases give the first column of a `VALUES` list.
const VALUES_COLUMN: &str = "column1";
const CAST_KIND: i32 = 0;
const SESSION_KIND: i32 = 1;

/// Reads what `wanted` asks of these performances: cast in billing order (then id) and
/// sessions earliest first (then id), as `cast::roles_in_performances` and
/// `sessions::sessions_of` order them.
pub async fn read(
    db: &impl ConnectionTrait,
    performance_ids: &[i64],
    wanted: &Wanted,
) -> Result<(Vec<CastRow>, Vec<SessionRow>), DbErr> {
    let mut performance_ids = performance_ids.to_vec();
    performance_ids.sort_unstable();
    performance_ids.dedup();
    if performance_ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let performance_ids = performance_ids.as_slice();
    let mut branches = Vec::new();
    if let Some(columns) = &wanted.cast {
        branches.push(cast_branch(performance_ids, columns));
    }
    if let Some(columns) = &wanted.sessions {
        branches.push(session_branch(performance_ids, columns));
    }
    let mut branches = branches.into_iter();
    let Some(mut query) = branches.next() else {
        return Ok((Vec::new(), Vec::new()));
    };
    for branch in branches {
        query.union(UnionType::All, branch);
    }
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(backend.build(&query)).await?;
    let (mut cast, mut sessions) = (Vec::new(), Vec::new());
    for row in &rows {
        let cells = Cells(row);
        match cells.get::<i32>(0, true)? {
            Some(CAST_KIND) => cast.push(cells.cast(wanted.cast.unwrap_or_default())?),
            Some(SESSION_KIND) => sessions.push(cells.session(wanted.sessions.unwrap_or_default())?),
            other => return Err(DbErr::Custom(format!("a row of unknown kind {other:?}"))),
        }
    }
    cast.sort_unstable_by_key(|role| (role.billing_order, role.id));
    sessions.sort_unstable_by_key(|session| (session.starts_at, session.id));
    Ok((cast, sessions))
}

/// Keeps `query`'s rows whose `column` is one of `performance_ids` (not empty, no
/// duplicates), by joining them in as a `VALUES` list.
fn among<E: EntityTrait>(mut query: Select<E>, column: impl ColumnTrait, performance_ids: &[i64]) -> Select<E> {
    let ids = Alias::new("ids");
    let listed = Query::select()
        .column(VALUES_COLUMN)
        .from_values(performance_ids.iter().copied(), ids)
        .to_owned();
    let wanted = Alias::new("wanted");
    QueryTrait::query(&mut query).join_subquery(
        JoinType::InnerJoin,
        listed,
        wanted.clone(),
        Expr::col((E::default(), column)).equals((wanted, VALUES_COLUMN)),
    );
    query
}

fn null() -> SimpleExpr {
    Expr::cust("NULL")
}

/// A column when the plan writes it, else NULL.
fn either(selected: bool, column: impl ColumnTrait) -> SimpleExpr {
    if selected { column.into_column_as_expr() } else { null() }
}

fn cast_branch(performance_ids: &[i64], columns: &CastColumns) -> SelectStatement {
    use performance_cast::Column;
    let member = |selected: bool, column: cast_member::Column| either(columns.member && selected, column);
    let filled = [
        // Sorted by, so always read.
        either(true, Column::Id),
        either(true, Column::BillingOrder),
        either(columns.role, Column::Role),
        member(true, cast_member::Column::Id),
        member(columns.member_name, cast_member::Column::Name),
        member(columns.member_english_name, cast_member::Column::EnglishName),
        member(columns.member_bio, cast_member::Column::Bio),
    ];
    let mut query = performance_cast::Entity::find()
        .select_only()
        .column_as(Expr::cust(CAST_KIND.to_string()), KIND)
        .column_as(Column::PerformanceId, PERFORMANCE_ID);
    query = among(query, Column::PerformanceId, performance_ids);
    if columns.member {
        query = query.join(JoinType::LeftJoin, performance_cast::Relation::CastMember.def());
    }
    for (expr, name) in filled.into_iter().zip(CAST_COLUMNS) {
        query = query.column_as(expr, name);
    }
    for name in SESSION_COLUMNS {
        query = query.column_as(null(), name);
    }
    query.into_query()
}

fn session_branch(performance_ids: &[i64], columns: &SessionColumns) -> SelectStatement {
    use session::Column;
    let filled = [
        // Sorted by, so always read.
        either(true, Column::Id),
        either(true, Column::StartsAt),
        either(columns.sales_open_at, Column::SalesOpenAt),
        either(columns.sales_close_at, Column::SalesCloseAt),
        either(columns.status, Column::Status),
        either(columns.available_seats, Column::AvailableSeats),
        either(columns.total_seats, Column::TotalSeats),
    ];
    let mut query = session::Entity::find()
        .select_only()
        .column_as(Expr::cust(SESSION_KIND.to_string()), KIND)
        .column_as(Column::PerformanceId, PERFORMANCE_ID);
    query = among(query, Column::PerformanceId, performance_ids);
    for name in CAST_COLUMNS {
        query = query.column_as(null(), name);
    }
    for (expr, name) in filled.into_iter().zip(SESSION_COLUMNS) {
        query = query.column_as(expr, name);
    }
    query.into_query()
}

/// A result row, read by column position (the layout above).
struct Cells<'a>(&'a QueryResult);

impl Cells<'_> {
    /// The cell at `index` when `selected`, else `None` (never decoded).
    fn get<T: TryGetable>(&self, index: usize, selected: bool) -> Result<Option<T>, DbErr> {
        selected.then(|| self.0.try_get_by_index(index)).transpose()
    }

    fn performance_id(&self) -> Result<i64, DbErr> {
        self.0.try_get_by_index(1)
    }

    fn cast(&self, columns: CastColumns) -> Result<CastRow, DbErr> {
        let member = columns.member;
        Ok(CastRow {
            performance_id: self.performance_id()?,
            id: self.get(2, true)?,
            billing_order: self.get(3, true)?,
            role: self.get(4, columns.role)?,
            member_id: self.get(5, member)?,
            member_name: self.get(6, member && columns.member_name)?,
            member_english_name: self.get(7, member && columns.member_english_name)?,
            member_bio: self.get(8, member && columns.member_bio)?,
        })
    }

    fn session(&self, columns: SessionColumns) -> Result<SessionRow, DbErr> {
        Ok(SessionRow {
            performance_id: self.performance_id()?,
            id: self.get(9, true)?,
            starts_at: self.get(10, true)?,
            sales_open_at: self.get(11, columns.sales_open_at)?,
            sales_close_at: self.get(12, columns.sales_close_at)?,
            status: self.get(13, columns.status)?,
            available_seats: self.get(14, columns.available_seats)?,
            total_seats: self.get(15, columns.total_seats)?,
        })
    }
}
