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
use crate::graphql::audit::record_admin_action;
use crate::graphql::guard::{Role, RoleGuard};
use crate::graphql::ids::{NodeKind, expect};

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Registers a venue with its seat layout.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_venue(&self, ctx: &Context<'_>, input: CreateVenueInput) -> GqlResult<Venue> {
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let venue = venues::create_venue(&txn, input.into()).await?;
        record_admin_action(ctx, &txn, "createVenue", NodeKind::Venue, Some(venue.id)).await?;
        crate::db::commit(txn).await?;
        Ok(Venue(venue))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_venue(&self, ctx: &Context<'_>, id: ID, input: UpdateVenueInput) -> GqlResult<Venue> {
        let id = expect(NodeKind::Venue, &id, "id")?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let venue = venues::update_venue(&txn, id, input.into()).await?;
        record_admin_action(ctx, &txn, "updateVenue", NodeKind::Venue, Some(id)).await?;
        crate::db::commit(txn).await?;
        Ok(Venue(venue))
    }

    /// Deletes a venue that no performance uses; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_venue(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::Venue, &id, "id")?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        venues::delete_venue(&txn, raw).await?;
        record_admin_action(ctx, &txn, "deleteVenue", NodeKind::Venue, Some(raw)).await?;
        crate::db::commit(txn).await?;
        Ok(id)
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_cast_member(&self, ctx: &Context<'_>, input: CreateCastMemberInput) -> GqlResult<CastMember> {
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let member = cast::create_cast_member(&txn, input.into()).await?;
        record_admin_action(ctx, &txn, "createCastMember", NodeKind::CastMember, Some(member.id)).await?;
        crate::db::commit(txn).await?;
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
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let member = cast::update_cast_member(&txn, id, input.into()).await?;
        record_admin_action(ctx, &txn, "updateCastMember", NodeKind::CastMember, Some(id)).await?;
        crate::db::commit(txn).await?;
        Ok(CastMember(member))
    }

    /// Deletes a cast member who has no roles; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_cast_member(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::CastMember, &id, "id")?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        cast::delete_cast_member(&txn, raw).await?;
        record_admin_action(ctx, &txn, "deleteCastMember", NodeKind::CastMember, Some(raw)).await?;
        crate::db::commit(txn).await?;
        Ok(id)
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_performance(&self, ctx: &Context<'_>, input: CreatePerformanceInput) -> GqlResult<Performance> {
        let fields = input.into_domain()?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let performance = performances::create_performance(&txn, fields).await?;
        record_admin_action(
            ctx,
            &txn,
            "createPerformance",
            NodeKind::Performance,
            Some(performance.id),
        )
        .await?;
        crate::db::commit(txn).await?;
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Performance(performance))
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
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let performance = performances::update_performance(&txn, id, fields).await?;
        record_admin_action(ctx, &txn, "updatePerformance", NodeKind::Performance, Some(id)).await?;
        crate::db::commit(txn).await?;
        catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Performance(performance))
    }

    /// Deletes a performance without sessions, with its cast entries and poster; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_performance(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::Performance, &id, "id")?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let deleted = performances::delete_performance(&txn, raw).await?;
        record_admin_action(ctx, &txn, "deletePerformance", NodeKind::Performance, Some(raw)).await?;
        crate::db::commit(txn).await?;
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
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let role = cast::add_role(&txn, role).await?;
        record_admin_action(ctx, &txn, "addPerformanceCast", NodeKind::CastRole, Some(role.id)).await?;
        crate::db::commit(txn).await?;
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
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let role = cast::update_role(&txn, id, input.role, billing_order).await?;
        record_admin_action(ctx, &txn, "updatePerformanceCast", NodeKind::CastRole, Some(id)).await?;
        crate::db::commit(txn).await?;
        Ok(CastRole(role))
    }

    /// Removes a cast entry; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn remove_performance_cast(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::CastRole, &id, "id")?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        cast::remove_role(&txn, raw).await?;
        record_admin_action(ctx, &txn, "removePerformanceCast", NodeKind::CastRole, Some(raw)).await?;
        crate::db::commit(txn).await?;
        Ok(id)
    }

    /// Schedules a session: creates its prices and one inventory row per seat of the venue.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_session(&self, ctx: &Context<'_>, input: CreateSessionInput) -> GqlResult<Session> {
        let new = input.into_domain()?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let session = sessions::create_session(&txn, new).await?;
        record_admin_action(ctx, &txn, "createSession", NodeKind::Session, Some(session.id)).await?;
        crate::db::commit(txn).await?;
        Ok(Session(session))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_session(&self, ctx: &Context<'_>, id: ID, input: UpdateSessionInput) -> GqlResult<Session> {
        let id = expect(NodeKind::Session, &id, "id")?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        let session = sessions::update_session(&txn, id, input.into()).await?;
        record_admin_action(ctx, &txn, "updateSession", NodeKind::Session, Some(id)).await?;
        crate::db::commit(txn).await?;
        Ok(Session(session))
    }

    /// Deletes a session in which no seat is held or sold; returns its ID.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn delete_session(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::Session, &id, "id")?;
        let txn = crate::db::write(&app(ctx)?.db).await?;
        sessions::delete_session(&txn, raw).await?;
        record_admin_action(ctx, &txn, "deleteSession", NodeKind::Session, Some(raw)).await?;
        crate::db::commit(txn).await?;
        Ok(id)
    }
}
