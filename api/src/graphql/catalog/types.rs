//! GraphQL object types of the catalog. Each wraps an entity model and decides field by field
//! what is public; relations go through the request's dataloaders.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{cast_member, performance, performance_cast, section, session, venue};

use crate::domain::{seat_map, sessions};
use crate::error::ApiError;
use crate::graphql::GqlResult;
use crate::graphql::app;
use crate::graphql::loaders::{
    CastMemberKey, CastOfPerformance, PerformanceKey, PriceTiersOfPerformance, PricesOfSession, RolesOfMember,
    RoomOfSession, SeatMapOfSession, SectionsOfVenue, SessionsOfPerformance, VenueKey, load, load_list, load_required,
};
use crate::graphql::relay::Cursor;
use crate::ids::{NodeKind, encode};

/// Kind of performance.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::Genre")]
pub enum Genre {
    Musical,
    Concert,
    Theatre,
    Opera,
    Classical,
    Dance,
}

/// What the box office decided about a session.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::SessionStatus")]
pub enum SessionStatus {
    /// Takes place as planned.
    Scheduled,
    /// Will not take place.
    Cancelled,
}

/// Where a session stands for buyers right now.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    /// Sales have not opened yet.
    Upcoming,
    OnSale,
    /// On sale, but no seat is available at the moment (holds may still expire).
    SoldOut,
    /// Sales are over.
    Closed,
    Cancelled,
}

impl From<sessions::SaleState> for SaleState {
    fn from(state: sessions::SaleState) -> Self {
        match state {
            sessions::SaleState::Upcoming => Self::Upcoming,
            sessions::SaleState::OnSale => Self::OnSale,
            sessions::SaleState::SoldOut => Self::SoldOut,
            sessions::SaleState::Closed => Self::Closed,
            sessions::SaleState::Cancelled => Self::Cancelled,
        }
    }
}

/// State of one seat in one session.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::SeatStatus")]
pub enum SeatStatus {
    Available,
    /// Held by a buyer who is paying; may become available again.
    Held,
    Sold,
    /// Kept back by the box office.
    Blocked,
}

pub struct Performance(pub performance::Model, Option<Box<Prefetched>>);

/// What a performance's row came with from the catalog cache (the first list pages): its
/// venue and price tiers, read in the same snapshot as the row, so that the list page every
/// visitor opens needs no statement at all. Absent, the fields load through the dataloaders.
pub struct Prefetched {
    pub venue: Option<venue::Model>,
    pub price_tiers: Option<Vec<(String, i32)>>,
}

impl Performance {
    pub fn new(model: performance::Model) -> Self {
        Self(model, None)
    }

    pub fn prefetched(model: performance::Model, prefetched: Prefetched) -> Self {
        Self(model, Some(Box::new(prefetched)))
    }

    /// What the row came with from the catalog cache, if anything.
    pub fn came_with(&self) -> Option<&Prefetched> {
        self.1.as_deref()
    }
}

/// A show with its run, venue and cast.
#[Object]
impl Performance {
    pub async fn id(&self) -> ID {
        encode(NodeKind::Performance, self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn english_title(&self) -> Option<&str> {
        self.0.english_title.as_deref()
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn genre(&self) -> Genre {
        self.0.genre.into()
    }
    /// Youngest age admitted; 0 means all ages.
    async fn minimum_age(&self) -> i32 {
        self.0.minimum_age
    }
    async fn running_minutes(&self) -> i32 {
        self.0.running_minutes
    }
    /// First day of the run (Korean calendar day).
    async fn start_date(&self) -> NaiveDate {
        self.0.start_date
    }
    /// Last day of the run (Korean calendar day).
    async fn end_date(&self) -> NaiveDate {
        self.0.end_date
    }
    /// Link to the poster image, when one was uploaded.
    async fn poster_url(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        let app = app(ctx)?;
        Ok(self.0.poster_key.as_deref().map(|key| app.storage.public_url(key)))
    }
    async fn venue(&self, ctx: &Context<'_>) -> GqlResult<Venue> {
        if let Some(venue) = self.1.as_ref().and_then(|prefetched| prefetched.venue.as_ref()) {
            return Ok(Venue(venue.clone()));
        }
        Ok(Venue(
            load_required(ctx, VenueKey(self.0.venue_id), || {
                format!("performance {} has no venue", self.0.id)
            })
            .await?,
        ))
    }
    /// Cast in billing order.
    async fn cast(&self, ctx: &Context<'_>) -> GqlResult<Vec<CastRole>> {
        let roles = load_list(ctx, CastOfPerformance(self.0.id)).await?;
        Ok(roles.into_iter().map(CastRole).collect())
    }
    /// Sessions starting at or after `from` and before `to`, earliest first.
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> GqlResult<Vec<Session>> {
        let key = SessionsOfPerformance {
            performance_id: self.0.id,
            from,
            to,
        };
        let sessions = load_list(ctx, key).await?;
        Ok(sessions.into_iter().map(Session).collect())
    }
    /// Lowest price of each seat grade over the performance's sessions, dearest grade first.
    async fn price_tiers(&self, ctx: &Context<'_>) -> GqlResult<Vec<PriceTier>> {
        let tiers = match self.1.as_ref().and_then(|prefetched| prefetched.price_tiers.as_ref()) {
            Some(tiers) => tiers.clone(),
            None => load_list(ctx, PriceTiersOfPerformance(self.0.id)).await?,
        };
        Ok(tiers
            .into_iter()
            .map(|(grade, price)| PriceTier { grade, price })
            .collect())
    }
    /// Mean rating of its reviews (1 to 5); null before the first review.
    async fn average_rating(&self) -> Option<f64> {
        crate::domain::reviews::average_rating(&self.0)
    }
    async fn review_count(&self) -> i32 {
        self.0.review_count
    }
    /// Buyers' reviews, newest first.
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<Cursor, crate::graphql::reviews::Review>> {
        crate::graphql::reviews::reviews_of(ctx, self.0.id, first, after).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The price of one seat grade, in whole KRW.
#[derive(SimpleObject, Debug, Clone)]
pub struct PriceTier {
    pub grade: String,
    pub price: i32,
}

pub struct Venue(pub venue::Model);

/// A theatre or hall with its seat layout.
#[Object]
impl Venue {
    pub async fn id(&self) -> ID {
        encode(NodeKind::Venue, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn address(&self) -> &str {
        &self.0.address
    }
    async fn region(&self) -> &str {
        &self.0.region
    }
    /// Seats in the layout.
    async fn seat_count(&self) -> i32 {
        self.0.seat_count
    }
    /// Sections front to back.
    async fn sections(&self, ctx: &Context<'_>) -> GqlResult<Vec<Section>> {
        let sections = load_list(ctx, SectionsOfVenue(self.0.id)).await?;
        Ok(sections.into_iter().map(Section).collect())
    }
}

pub struct Section(pub section::Model);

/// A block of seats such as "1층" or "발코니".
#[Object]
impl Section {
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Order from the stage backwards, starting at 0.
    async fn position(&self) -> i32 {
        self.0.position
    }
}

pub struct CastMember(pub cast_member::Model);

/// A performer, conductor or other artist.
#[Object]
impl CastMember {
    pub async fn id(&self) -> ID {
        encode(NodeKind::CastMember, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn english_name(&self) -> Option<&str> {
        self.0.english_name.as_deref()
    }
    async fn bio(&self) -> Option<&str> {
        self.0.bio.as_deref()
    }
    /// Roles in performances.
    async fn roles(&self, ctx: &Context<'_>) -> GqlResult<Vec<CastRole>> {
        let roles = load_list(ctx, RolesOfMember(self.0.id)).await?;
        Ok(roles.into_iter().map(CastRole).collect())
    }
}

pub struct CastRole(pub performance_cast::Model);

/// A cast member's role in a performance.
#[Object]
impl CastRole {
    pub async fn id(&self) -> ID {
        encode(NodeKind::CastRole, self.0.id)
    }
    async fn role(&self) -> &str {
        &self.0.role
    }
    /// Lower is billed first.
    async fn billing_order(&self) -> i32 {
        self.0.billing_order
    }
    async fn cast_member(&self, ctx: &Context<'_>) -> GqlResult<CastMember> {
        Ok(CastMember(
            load_required(ctx, CastMemberKey(self.0.cast_member_id), || {
                format!("cast role {} has no member", self.0.id)
            })
            .await?,
        ))
    }
    async fn performance(&self, ctx: &Context<'_>) -> GqlResult<Performance> {
        Ok(Performance::new(
            load_required(ctx, PerformanceKey(self.0.performance_id), || {
                format!("cast role {} has no performance", self.0.id)
            })
            .await?,
        ))
    }
}

pub struct Session(pub session::Model);

/// One show time of a performance.
#[Object]
impl Session {
    pub async fn id(&self) -> ID {
        encode(NodeKind::Session, self.0.id)
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn sales_open_at(&self) -> DateTime<Utc> {
        self.0.sales_open_at
    }
    async fn sales_close_at(&self) -> DateTime<Utc> {
        self.0.sales_close_at
    }
    async fn status(&self) -> SessionStatus {
        self.0.status.into()
    }
    async fn sale_state(&self) -> SaleState {
        sessions::sale_state(&self.0, Utc::now()).into()
    }
    /// Seats that can be held now (a live counter, not a count over the seats).
    async fn available_seat_count(&self) -> i32 {
        self.0.available_seats
    }
    async fn total_seat_count(&self) -> i32 {
        self.0.total_seats
    }
    async fn performance(&self, ctx: &Context<'_>) -> GqlResult<Performance> {
        Ok(Performance::new(
            load_required(ctx, PerformanceKey(self.0.performance_id), || {
                format!("session {} has no performance", self.0.id)
            })
            .await?,
        ))
    }
    /// Price of each seat grade, dearest first.
    async fn prices(&self, ctx: &Context<'_>) -> GqlResult<Vec<PriceTier>> {
        let prices = load_list(ctx, PricesOfSession(self.0.id)).await?;
        Ok(prices
            .into_iter()
            .map(|p| PriceTier {
                grade: p.grade,
                price: p.price,
            })
            .collect())
    }
    /// Every seat with its status, read fresh from the inventory.
    async fn seat_map(&self, ctx: &Context<'_>) -> GqlResult<SeatMap> {
        seat_map_of(ctx, self.0.id).await
    }
    /// The session's waiting room; null when the box office never configured one.
    async fn waiting_room(&self, ctx: &Context<'_>) -> GqlResult<Option<crate::graphql::waiting_room::WaitingRoom>> {
        let room = load(ctx, RoomOfSession(self.0.id)).await?;
        Ok(room.map(crate::graphql::waiting_room::WaitingRoom))
    }
    /// Buyers waiting in the session's waitlist (WAITING entries), for the sold-out page.
    async fn waitlist_length(&self, ctx: &Context<'_>) -> GqlResult<i32> {
        crate::graphql::waitlist::waitlist_length(ctx, self.0.id).await
    }
}

/// The seat map of a session, batched with every other asked for by the query.
pub(crate) async fn seat_map_of(ctx: &Context<'_>, session_id: i64) -> GqlResult<SeatMap> {
    Ok(load(ctx, SeatMapOfSession(session_id))
        .await?
        .map(SeatMap)
        // A session always has seats, so no seat map means there is no such session.
        .ok_or(ApiError::NotFound("session"))?)
}

pub struct SeatMap(pub seat_map::SeatMap);

/// A session's seats at one version of its seat map.
#[Object]
impl SeatMap {
    async fn session_id(&self) -> ID {
        encode(NodeKind::Session, self.0.session_id)
    }
    /// Increases by one with every change to any seat of the session.
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn available_count(&self) -> i32 {
        self.0.available_count
    }
    async fn seats(&self) -> Vec<Seat> {
        self.0.seats.iter().cloned().map(Seat).collect()
    }
}

pub struct Seat(pub seat_map::SeatMapSeat);

/// A seat as shown on a seat map.
#[Object]
impl Seat {
    /// Seat ID, as passed when holding seats.
    async fn id(&self) -> ID {
        encode(NodeKind::Seat, self.0.seat_id)
    }
    async fn section(&self) -> &str {
        &self.0.section
    }
    async fn row(&self) -> &str {
        &self.0.row_label
    }
    async fn number(&self) -> i32 {
        self.0.number
    }
    async fn grade(&self) -> &str {
        &self.0.grade
    }
    /// Price in whole KRW for this session.
    async fn price(&self) -> Option<i32> {
        self.0.price
    }
    async fn status(&self) -> SeatStatus {
        self.0.status.into()
    }
    /// Horizontal position for drawing, in seat widths.
    async fn x(&self) -> f64 {
        self.0.x
    }
    /// Vertical position for drawing, in rows from the stage.
    async fn y(&self) -> f64 {
        self.0.y
    }
    /// Wheelchair-accessible.
    async fn accessible(&self) -> bool {
        self.0.accessible
    }
}
