//! Running a [`Plan`]: the page through the resolver's own path (checks, catalog cache), one
//! statement for the relations the plan reaches, then the answer written in selection order.
//!
//! Every value is formatted by the same code the executor uses (the scalars' `to_value`,
//! the enums' names, serde_json's escaping), so the bytes are the executor's bytes.

use std::collections::HashMap;

use async_graphql::connection::{Connection, CursorType};
use async_graphql::resolver_utils::enum_value;
use async_graphql::{ScalarType, Variables};
use chrono::{DateTime, Utc};
use entity::venue;

use super::plan::{
    CastMemberField, CastRoleField, ConnectionField, EdgeField, Fields, First, PageInfoField, PerformanceField, Plan,
    PriceTierField, SessionField, VenueField,
};
use super::rows::{self, CastRow, SessionRow};
use crate::domain::sessions::SaleFacts;
use crate::graphql::catalog::types::{Genre, Performance, SaleState, SessionStatus};
use crate::graphql::reads::Source;
use crate::graphql::relay::Cursor;
use crate::ids::{NodeKind, encode};
use crate::state::AppState;

/// The executor must answer instead: a variable that does not fit, a page size refused, a
/// failed read, a row a foreign key promised and that is missing. Its answer carries the
/// error, with the path and `extensions.code` the executor gives it.
#[derive(Debug)]
pub struct Fallback;

impl<E> From<E> for Fallback
where
    E: std::error::Error,
{
    fn from(_: E) -> Self {
        Self
    }
}

/// The answer to `plan` as the body of a response: `{"data":{…}}`.
pub async fn answer(app: &AppState, plan: &Plan, variables: &Variables, reads: &Source) -> Result<Vec<u8>, Fallback> {
    let first = first(&plan.first, variables)?;
    let page = crate::graphql::catalog::unfiltered_first_page(app, first)
        .await
        .map_err(|_| Fallback)?;
    let related = Related::read(plan, &page, reads).await?;
    let mut writer = Writer {
        out: Vec::with_capacity(8 * 1024),
        app,
        related: &related,
        now: Utc::now(),
    };
    writer.out.extend_from_slice(b"{\"data\":{");
    writer.out.extend_from_slice(plan.key.as_bytes());
    writer.connection(&plan.connection, &page)?;
    writer.out.extend_from_slice(b"}}");
    Ok(writer.out)
}

/// The value of `first`, as the executor coerces it.
fn first(first: &First, variables: &Variables) -> Result<Option<i32>, Fallback> {
    match first {
        First::Absent => Ok(None),
        First::Literal(n) => Ok(Some(*n)),
        First::Variable {
            name,
            default,
            required,
        } => match variables.get(name).or(default.as_ref()) {
            None | Some(async_graphql::Value::Null) if *required => Err(Fallback),
            None | Some(async_graphql::Value::Null) => Ok(None),
            Some(async_graphql::Value::Number(n)) => {
                let n = n.as_i64().ok_or(Fallback)?;
                Ok(Some(i32::try_from(n)?))
            }
            Some(_) => Err(Fallback),
        },
    }
}

/// The rows the page's performances lead to, read for the whole page in one statement (see
/// [`rows`]). The page comes with its venues and price tiers (the catalog cache's first
/// pages always do).
#[derive(Default)]
struct Related {
    cast: HashMap<i64, Vec<CastRow>>,
    sessions: HashMap<i64, Vec<SessionRow>>,
}

impl Related {
    async fn read(plan: &Plan, page: &Connection<Cursor, Performance>, reads: &Source) -> Result<Self, Fallback> {
        let mut related = Self::default();
        let needs = plan.needs;
        let ids: Vec<i64> = page.edges.iter().map(|edge| edge.node.0.id).collect();
        if ids.is_empty() {
            return Ok(related);
        }
        let wanted = rows::Wanted {
            cast: needs.cast.then_some(needs.cast_columns),
            sessions: needs.sessions.then_some(needs.session_columns),
        };
        let (cast, sessions) = rows::read(reads.pool(), &ids, &wanted).await.map_err(|err| {
            tracing::warn!(error = %err, "the direct writer's read failed; the executor answers instead");
            Fallback
        })?;
        for row in cast {
            related.cast.entry(row.performance_id).or_default().push(row);
        }
        for row in sessions {
            related.sessions.entry(row.performance_id).or_default().push(row);
        }
        Ok(related)
    }
}

/// A column the plan selected (so never `None` here; `None` falls back all the same).
fn selected<T>(value: Option<T>) -> Result<T, Fallback> {
    value.ok_or(Fallback)
}

struct Writer<'a> {
    out: Vec<u8>,
    app: &'a AppState,
    related: &'a Related,
    /// One instant for the whole answer's sale states.
    now: DateTime<Utc>,
}

type Written = Result<(), Fallback>;

impl Writer<'_> {
    /// `{"key":value,…}`, each value written by `write`.
    fn object<F>(&mut self, fields: &Fields<F>, mut write: impl FnMut(&mut Self, &F) -> Written) -> Written {
        self.out.push(b'{');
        for (i, entry) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(entry.key.as_bytes());
            write(self, &entry.field)?;
        }
        self.out.push(b'}');
        Ok(())
    }

    fn list<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut write: impl FnMut(&mut Self, T) -> Written,
    ) -> Written {
        self.out.push(b'[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write(self, item)?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn value(&mut self, value: &async_graphql::Value) -> Written {
        serde_json::to_writer(&mut self.out, value)?;
        Ok(())
    }

    fn string(&mut self, text: &str) -> Written {
        serde_json::to_writer(&mut self.out, text)?;
        Ok(())
    }

    fn optional_string(&mut self, text: Option<&str>) -> Written {
        match text {
            Some(text) => self.string(text),
            None => self.null(),
        }
    }

    fn null(&mut self) -> Written {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn int(&mut self, n: i32) -> Written {
        use std::io::Write;
        write!(self.out, "{n}")?;
        Ok(())
    }

    fn bool(&mut self, b: bool) -> Written {
        self.out.extend_from_slice(if b { b"true" } else { b"false" });
        Ok(())
    }

    fn scalar(&mut self, scalar: &impl ScalarType) -> Written {
        self.value(&scalar.to_value())
    }

    fn connection(&mut self, fields: &Fields<ConnectionField>, page: &Connection<Cursor, Performance>) -> Written {
        self.object(fields, |w, field| match field {
            ConnectionField::Typename => w.string("PerformanceConnection"),
            ConnectionField::PageInfo(fields) => w.page_info(fields, page),
            ConnectionField::Edges(fields) => w.list(&page.edges, |w, edge| {
                w.object(fields, |w, field| match field {
                    EdgeField::Typename => w.string("PerformanceEdge"),
                    EdgeField::Cursor => w.string(&edge.cursor.encode_cursor()),
                    EdgeField::Node(fields) => w.performance(fields, &edge.node),
                })
            }),
            ConnectionField::Nodes(fields) => w.list(&page.edges, |w, edge| w.performance(fields, &edge.node)),
        })
    }

    fn page_info(&mut self, fields: &Fields<PageInfoField>, page: &Connection<Cursor, Performance>) -> Written {
        self.object(fields, |w, field| match field {
            PageInfoField::Typename => w.string("PageInfo"),
            PageInfoField::HasPreviousPage => w.bool(page.has_previous_page),
            PageInfoField::HasNextPage => w.bool(page.has_next_page),
            PageInfoField::StartCursor => match page.edges.first() {
                Some(edge) => w.string(&edge.cursor.encode_cursor()),
                None => w.null(),
            },
            PageInfoField::EndCursor => match page.edges.last() {
                Some(edge) => w.string(&edge.cursor.encode_cursor()),
                None => w.null(),
            },
        })
    }

    fn performance(&mut self, fields: &Fields<PerformanceField>, performance: &Performance) -> Written {
        let row = &performance.0;
        let with = performance.came_with();
        let related = self.related;
        self.object(fields, |w, field| match field {
            PerformanceField::Typename => w.string("Performance"),
            PerformanceField::Id => w.string(&encode(NodeKind::Performance, row.id)),
            PerformanceField::Title => w.string(&row.title),
            PerformanceField::EnglishTitle => w.optional_string(row.english_title.as_deref()),
            PerformanceField::Description => w.string(&row.description),
            PerformanceField::Genre => w.value(&enum_value(Genre::from(row.genre))),
            PerformanceField::MinimumAge => w.int(row.minimum_age),
            PerformanceField::RunningMinutes => w.int(row.running_minutes),
            PerformanceField::StartDate => w.scalar(&row.start_date),
            PerformanceField::EndDate => w.scalar(&row.end_date),
            PerformanceField::PosterUrl => {
                let url = row.poster_key.as_deref().map(|key| w.app.storage.public_url(key));
                w.optional_string(url.as_deref())
            }
            PerformanceField::AverageRating => match crate::domain::reviews::average_rating(row) {
                Some(rating) => w.scalar(&rating),
                None => w.null(),
            },
            PerformanceField::ReviewCount => w.int(row.review_count),
            PerformanceField::CreatedAt => w.scalar(&row.created_at),
            PerformanceField::UpdatedAt => w.scalar(&row.updated_at),
            PerformanceField::Venue(fields) => {
                let venue = with.and_then(|with| with.venue.as_ref()).ok_or(Fallback)?;
                w.venue(fields, venue)
            }
            PerformanceField::Cast(fields) => {
                let roles = related.cast.get(&row.id).map(Vec::as_slice).unwrap_or_default();
                w.list(roles, |w, role| w.cast_role(fields, role))
            }
            PerformanceField::Sessions(fields) => {
                let sessions = related.sessions.get(&row.id).map(Vec::as_slice).unwrap_or_default();
                w.list(sessions, |w, session| w.session(fields, session))
            }
            PerformanceField::PriceTiers(fields) => {
                let tiers = with.and_then(|with| with.price_tiers.as_deref()).ok_or(Fallback)?;
                w.list(tiers, |w, (grade, price)| {
                    w.object(fields, |w, field| match field {
                        PriceTierField::Typename => w.string("PriceTier"),
                        PriceTierField::Grade => w.string(grade),
                        PriceTierField::Price => w.int(*price),
                    })
                })
            }
        })
    }

    fn venue(&mut self, fields: &Fields<VenueField>, venue: &venue::Model) -> Written {
        self.object(fields, |w, field| match field {
            VenueField::Typename => w.string("Venue"),
            VenueField::Id => w.string(&encode(NodeKind::Venue, venue.id)),
            VenueField::Name => w.string(&venue.name),
            VenueField::Address => w.string(&venue.address),
            VenueField::Region => w.string(&venue.region),
            VenueField::SeatCount => w.int(venue.seat_count),
        })
    }

    fn cast_role(&mut self, fields: &Fields<CastRoleField>, role: &CastRow) -> Written {
        self.object(fields, |w, field| match field {
            CastRoleField::Typename => w.string("CastRole"),
            CastRoleField::Id => w.string(&encode(NodeKind::CastRole, selected(role.id)?)),
            CastRoleField::Role => w.string(selected(role.role.as_deref())?),
            CastRoleField::BillingOrder => w.int(selected(role.billing_order)?),
            CastRoleField::CastMember(fields) => {
                // A role without its member: the executor reports the broken promise.
                let member_id = selected(role.member_id)?.ok_or(Fallback)?;
                w.object(fields, |w, field| match field {
                    CastMemberField::Typename => w.string("CastMember"),
                    CastMemberField::Id => w.string(&encode(NodeKind::CastMember, member_id)),
                    CastMemberField::Name => w.string(selected(role.member_name.as_deref())?),
                    CastMemberField::EnglishName => {
                        w.optional_string(selected(role.member_english_name.as_ref())?.as_deref())
                    }
                    CastMemberField::Bio => w.optional_string(selected(role.member_bio.as_ref())?.as_deref()),
                })
            }
        })
    }

    fn session(&mut self, fields: &Fields<SessionField>, session: &SessionRow) -> Written {
        let now = self.now;
        self.object(fields, |w, field| match field {
            SessionField::Typename => w.string("Session"),
            SessionField::Id => w.string(&encode(NodeKind::Session, selected(session.id)?)),
            SessionField::StartsAt => w.scalar(&selected(session.starts_at)?),
            SessionField::SalesOpenAt => w.scalar(&selected(session.sales_open_at)?),
            SessionField::SalesCloseAt => w.scalar(&selected(session.sales_close_at)?),
            SessionField::Status => w.value(&enum_value(SessionStatus::from(selected(session.status)?))),
            SessionField::SaleState => {
                let facts = SaleFacts {
                    status: selected(session.status)?,
                    sales_open_at: selected(session.sales_open_at)?,
                    sales_close_at: selected(session.sales_close_at)?,
                    starts_at: selected(session.starts_at)?,
                    available_seats: selected(session.available_seats)?,
                };
                w.value(&enum_value(SaleState::from(facts.state(now))))
            }
            SessionField::AvailableSeatCount => w.int(selected(session.available_seats)?),
            SessionField::TotalSeatCount => w.int(selected(session.total_seats)?),
        })
    }
}
