//! Input types of the admin mutations, converted into domain inputs (decoding IDs on the way).

use async_graphql::{ID, InputObject, MaybeUndefined};
use chrono::{DateTime, NaiveDate, Utc};

use super::types::{Genre, SessionStatus};
use crate::domain::{cast, performances, sessions, venues};
use crate::error::ApiResult;
use crate::ids::{NodeKind, expect};

/// A seat layout: sections front to back, each with rows front to back.
#[derive(InputObject, Debug)]
pub struct VenueLayoutInput {
    pub sections: Vec<SectionInput>,
}

#[derive(InputObject, Debug)]
pub struct SectionInput {
    pub name: String,
    pub rows: Vec<RowInput>,
}

#[derive(InputObject, Debug)]
pub struct RowInput {
    /// Row label as printed on tickets ("A", "1", …); unique within the section.
    pub label: String,
    /// Seats in the row, numbered from 1.
    pub seat_count: i32,
    /// Price grade of every seat in the row ("VIP", "R", …).
    pub grade: String,
    /// Numbers of wheelchair-accessible seats.
    #[graphql(default)]
    pub accessible_seats: Vec<i32>,
}

impl From<VenueLayoutInput> for venues::LayoutSpec {
    fn from(input: VenueLayoutInput) -> Self {
        venues::LayoutSpec {
            sections: input
                .sections
                .into_iter()
                .map(|s| venues::SectionSpec {
                    name: s.name,
                    rows: s
                        .rows
                        .into_iter()
                        .map(|r| venues::RowSpec {
                            label: r.label,
                            seat_count: r.seat_count,
                            grade: r.grade,
                            accessible_seats: r.accessible_seats,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(InputObject, Debug)]
pub struct CreateVenueInput {
    pub name: String,
    pub address: String,
    pub region: String,
    pub layout: VenueLayoutInput,
}

/// Fields left out keep their value. A new layout replaces the old one and is accepted only
/// while no session uses the venue.
#[derive(InputObject, Debug)]
pub struct UpdateVenueInput {
    pub name: Option<String>,
    pub address: Option<String>,
    pub region: Option<String>,
    pub layout: Option<VenueLayoutInput>,
}

impl From<CreateVenueInput> for venues::NewVenue {
    fn from(input: CreateVenueInput) -> Self {
        venues::NewVenue {
            name: input.name,
            address: input.address,
            region: input.region,
            layout: input.layout.into(),
        }
    }
}

impl From<UpdateVenueInput> for venues::VenuePatch {
    fn from(input: UpdateVenueInput) -> Self {
        venues::VenuePatch {
            name: input.name,
            address: input.address,
            region: input.region,
            layout: input.layout.map(Into::into),
        }
    }
}

#[derive(InputObject, Debug)]
pub struct CreateCastMemberInput {
    pub name: String,
    pub english_name: Option<String>,
    pub bio: Option<String>,
}

/// Fields left out keep their value; an empty `englishName` or `bio` clears it.
#[derive(InputObject, Debug)]
pub struct UpdateCastMemberInput {
    pub name: Option<String>,
    pub english_name: Option<String>,
    pub bio: Option<String>,
}

impl From<CreateCastMemberInput> for cast::CastMemberFields {
    fn from(input: CreateCastMemberInput) -> Self {
        cast::CastMemberFields {
            name: Some(input.name),
            english_name: input.english_name,
            bio: input.bio,
        }
    }
}

impl From<UpdateCastMemberInput> for cast::CastMemberFields {
    fn from(input: UpdateCastMemberInput) -> Self {
        cast::CastMemberFields {
            name: input.name,
            english_name: input.english_name,
            bio: input.bio,
        }
    }
}

#[derive(InputObject, Debug)]
pub struct CreatePerformanceInput {
    pub title: String,
    pub english_title: Option<String>,
    #[graphql(default)]
    pub description: String,
    pub genre: Genre,
    /// Youngest age admitted; 0 (the default) means all ages.
    #[graphql(default)]
    pub minimum_age: i32,
    pub running_minutes: i32,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub venue_id: ID,
}

/// Fields left out keep their value.
#[derive(InputObject, Debug)]
pub struct UpdatePerformanceInput {
    pub title: Option<String>,
    pub english_title: Option<String>,
    pub description: Option<String>,
    pub genre: Option<Genre>,
    pub minimum_age: Option<i32>,
    pub running_minutes: Option<i32>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// Moving to another venue is possible only before any session exists.
    pub venue_id: Option<ID>,
}

impl CreatePerformanceInput {
    pub fn into_domain(self) -> ApiResult<performances::PerformanceFields> {
        Ok(performances::PerformanceFields {
            title: Some(self.title),
            english_title: self.english_title,
            description: Some(self.description),
            genre: Some(self.genre.into()),
            minimum_age: Some(self.minimum_age.into()),
            running_minutes: Some(self.running_minutes.into()),
            start_date: Some(self.start_date),
            end_date: Some(self.end_date),
            venue_id: Some(expect(NodeKind::Venue, &self.venue_id, "venueId")?),
        })
    }
}

impl UpdatePerformanceInput {
    pub fn into_domain(self) -> ApiResult<performances::PerformanceFields> {
        Ok(performances::PerformanceFields {
            title: self.title,
            english_title: self.english_title,
            description: self.description,
            genre: self.genre.map(Into::into),
            minimum_age: self.minimum_age.map(Into::into),
            running_minutes: self.running_minutes.map(Into::into),
            start_date: self.start_date,
            end_date: self.end_date,
            venue_id: self
                .venue_id
                .as_ref()
                .map(|id| expect(NodeKind::Venue, id, "venueId"))
                .transpose()?,
        })
    }
}

#[derive(InputObject, Debug)]
pub struct AddPerformanceCastInput {
    pub performance_id: ID,
    pub cast_member_id: ID,
    pub role: String,
    /// Lower is billed first.
    #[graphql(default)]
    pub billing_order: i32,
}

impl AddPerformanceCastInput {
    pub fn into_domain(self) -> ApiResult<cast::NewRole> {
        Ok(cast::NewRole {
            performance_id: expect(NodeKind::Performance, &self.performance_id, "performanceId")?,
            cast_member_id: expect(NodeKind::CastMember, &self.cast_member_id, "castMemberId")?,
            role: self.role,
            billing_order: self.billing_order.into(),
        })
    }
}

#[derive(InputObject, Debug)]
pub struct UpdatePerformanceCastInput {
    pub role: Option<String>,
    pub billing_order: Option<i32>,
}

/// The price of one grade in whole KRW.
#[derive(InputObject, Debug)]
pub struct PriceInput {
    pub grade: String,
    pub price: i32,
}

fn prices(input: Vec<PriceInput>) -> Vec<(String, i64)> {
    input.into_iter().map(|p| (p.grade, i64::from(p.price))).collect()
}

#[derive(InputObject, Debug)]
pub struct CreateSessionInput {
    pub performance_id: ID,
    pub starts_at: DateTime<Utc>,
    /// When sales open; now if left out.
    pub sales_open_at: Option<DateTime<Utc>>,
    /// When sales close; the start of the show if left out.
    pub sales_close_at: Option<DateTime<Utc>>,
    /// A price for every seat grade of the venue.
    pub prices: Vec<PriceInput>,
}

impl CreateSessionInput {
    pub fn into_domain(self) -> ApiResult<sessions::NewSession> {
        Ok(sessions::NewSession {
            performance_id: expect(NodeKind::Performance, &self.performance_id, "performanceId")?,
            starts_at: self.starts_at,
            sales_open_at: self.sales_open_at,
            sales_close_at: self.sales_close_at,
            prices: prices(self.prices),
        })
    }
}

/// Fields left out keep their value; `prices` changes only the grades it lists.
#[derive(InputObject, Debug)]
pub struct UpdateSessionInput {
    pub starts_at: Option<DateTime<Utc>>,
    pub sales_open_at: Option<DateTime<Utc>>,
    pub sales_close_at: Option<DateTime<Utc>>,
    /// CANCELLED is refused while seats are held or sold.
    pub status: Option<SessionStatus>,
    pub prices: MaybeUndefined<Vec<PriceInput>>,
}

impl From<UpdateSessionInput> for sessions::SessionPatch {
    fn from(input: UpdateSessionInput) -> Self {
        sessions::SessionPatch {
            starts_at: input.starts_at,
            sales_open_at: input.sales_open_at,
            sales_close_at: input.sales_close_at,
            status: input.status.map(Into::into),
            prices: input.prices.take().map(prices),
        }
    }
}
