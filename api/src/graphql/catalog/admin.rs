//! Admin mutations over the catalog. Each checks the ADMIN role with [`RoleGuard`], runs one
//! domain function and records the action in the audit log inside one transaction, and
//! returns the changed object.

use async_graphql::{Context, ID, Object};

use super::inputs::{
    AddPerformanceCastInput, CreateCastMemberInput, CreatePerformanceInput, CreateSessionInput, CreateVenueInput,
    UpdateCastMemberInput, UpdatePerformanceCastInput, UpdatePerformanceInput, UpdateSessionInput, UpdateVenueInput,
};
use super::types::{CastMember, CastRole, Performance, Session, Venue};
use crate::catalog_cache;
use crate::domain::{cast, performances, sessions, venues};
use crate::graphql::GqlResult;
use crate::graphql::app;
use crate::graphql::audit::AdminWrite;
use crate::graphql::guard::{Role, RoleGuard};
use crate::ids::{NodeKind, expect};

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Registers a venue with its seat layout.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_venue(&self, ctx: &Context<'_>, input: CreateVenueInput) -> GqlResult<Venue> {
        let write = AdminWrite::begin(ctx).await?;
        let venue = venues::create_venue(write.txn(), input.into()).await?;
        write
            .commit(ctx, "createVenue", NodeKind::Venue, Some(venue.id))
            .await?;
        Ok(Venue(venue))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_venue(&self, ctx: &Context<'_>, id: ID, input: UpdateVenueInput) -> GqlResult<Venue> {
        let id = expect(NodeKind::Venue, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        let venue = venues::update_venue(write.txn(), id, input.into()).await?;
        write.commit(ctx, "updateVenue", NodeKind::Venue, Some(id)).await?;
        // Venues are cached with the list pages' performances.
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Venue(venue))
    }

    /// Deletes a venue that no performance uses; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_venue(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::Venue, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        venues::delete_venue(write.txn(), raw).await?;
        write.commit(ctx, "deleteVenue", NodeKind::Venue, Some(raw)).await?;
        Ok(id)
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_cast_member(&self, ctx: &Context<'_>, input: CreateCastMemberInput) -> GqlResult<CastMember> {
        let write = AdminWrite::begin(ctx).await?;
        let member = cast::create_cast_member(write.txn(), input.into()).await?;
        write
            .commit(ctx, "createCastMember", NodeKind::CastMember, Some(member.id))
            .await?;
        Ok(CastMember(member))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_cast_member(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCastMemberInput,
    ) -> GqlResult<CastMember> {
        let id = expect(NodeKind::CastMember, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        let member = cast::update_cast_member(write.txn(), id, input.into()).await?;
        write
            .commit(ctx, "updateCastMember", NodeKind::CastMember, Some(id))
            .await?;
        Ok(CastMember(member))
    }

    /// Deletes a cast member who has no roles; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_cast_member(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::CastMember, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        cast::delete_cast_member(write.txn(), raw).await?;
        write
            .commit(ctx, "deleteCastMember", NodeKind::CastMember, Some(raw))
            .await?;
        Ok(id)
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_performance(&self, ctx: &Context<'_>, input: CreatePerformanceInput) -> GqlResult<Performance> {
        let fields = input.into_domain()?;
        let write = AdminWrite::begin(ctx).await?;
        let performance = performances::create_performance(write.txn(), fields).await?;
        write
            .commit(ctx, "createPerformance", NodeKind::Performance, Some(performance.id))
            .await?;
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Performance::new(performance))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_performance(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePerformanceInput,
    ) -> GqlResult<Performance> {
        let id = expect(NodeKind::Performance, &id, "id")?;
        let fields = input.into_domain()?;
        let write = AdminWrite::begin(ctx).await?;
        let performance = performances::update_performance(write.txn(), id, fields).await?;
        write
            .commit(ctx, "updatePerformance", NodeKind::Performance, Some(id))
            .await?;
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Performance::new(performance))
    }

    /// Deletes a performance without sessions, with its cast entries and poster; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_performance(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::Performance, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        let deleted = performances::delete_performance(write.txn(), raw).await?;
        write
            .commit(ctx, "deletePerformance", NodeKind::Performance, Some(raw))
            .await?;
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        if let Some(key) = &deleted.poster_key {
            crate::storage::delete_orphan(app(ctx)?.storage.as_ref(), key).await;
        }
        Ok(id)
    }

    /// Adds a cast member to a performance in a role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn add_performance_cast(&self, ctx: &Context<'_>, input: AddPerformanceCastInput) -> GqlResult<CastRole> {
        let role = input.into_domain()?;
        let write = AdminWrite::begin(ctx).await?;
        let role = cast::add_role(write.txn(), role).await?;
        write
            .commit(ctx, "addPerformanceCast", NodeKind::CastRole, Some(role.id))
            .await?;
        Ok(CastRole(role))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_performance_cast(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePerformanceCastInput,
    ) -> GqlResult<CastRole> {
        let id = expect(NodeKind::CastRole, &id, "id")?;
        let billing_order = input.billing_order.map(i64::from);
        let write = AdminWrite::begin(ctx).await?;
        let role = cast::update_role(write.txn(), id, input.role, billing_order).await?;
        write
            .commit(ctx, "updatePerformanceCast", NodeKind::CastRole, Some(id))
            .await?;
        Ok(CastRole(role))
    }

    /// Removes a cast entry; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn remove_performance_cast(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::CastRole, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        cast::remove_role(write.txn(), raw).await?;
        write
            .commit(ctx, "removePerformanceCast", NodeKind::CastRole, Some(raw))
            .await?;
        Ok(id)
    }

    /// Schedules a session: creates its prices and one inventory row per seat of the venue.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_session(&self, ctx: &Context<'_>, input: CreateSessionInput) -> GqlResult<Session> {
        let new = input.into_domain()?;
        let write = AdminWrite::begin(ctx).await?;
        let session = sessions::create_session(write.txn(), new).await?;
        write
            .commit(ctx, "createSession", NodeKind::Session, Some(session.id))
            .await?;
        // The performance's price tiers (cached with the list pages) come from its sessions.
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Session(session))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_session(&self, ctx: &Context<'_>, id: ID, input: UpdateSessionInput) -> GqlResult<Session> {
        let id = expect(NodeKind::Session, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        let session = sessions::update_session(write.txn(), id, input.into()).await?;
        write.commit(ctx, "updateSession", NodeKind::Session, Some(id)).await?;
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Session(session))
    }

    /// Deletes a session in which no seat is held or sold; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_session(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::Session, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        sessions::delete_session(write.txn(), raw).await?;
        write.commit(ctx, "deleteSession", NodeKind::Session, Some(raw)).await?;
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(id)
    }
}
