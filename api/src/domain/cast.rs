//! Cast members and their roles in performances.

use chrono::Utc;
use entity::{cast_member, performance_cast};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::catalog_events::{CatalogObject, record_change};
use super::paging::{Page, PageRequest};
use super::performances::find_performance;
use super::validate::{in_range, optional_text, required_text};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Default)]
pub struct CastMemberFields {
    pub name: Option<String>,
    pub english_name: Option<String>,
    pub bio: Option<String>,
}

#[tracing::instrument(name = "cast.create_cast_member", skip_all)]
pub async fn create_cast_member(db: &impl ConnectionTrait, input: CastMemberFields) -> ApiResult<cast_member::Model> {
    let name = required_text("name", input.name.as_deref().unwrap_or(""), 200)?;
    let now = Utc::now();
    let member = cast_member::ActiveModel {
        name: Set(name),
        english_name: Set(optional_text("englishName", input.english_name.as_deref(), 200)?),
        bio: Set(optional_text("bio", input.bio.as_deref(), 5_000)?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    record_change(db, CatalogObject::CastMember, member.id).await?;
    Ok(member)
}

/// Changes the fields given; an empty `englishName` or `bio` clears it.
#[tracing::instrument(name = "cast.update_cast_member", skip_all)]
pub async fn update_cast_member(
    db: &impl ConnectionTrait,
    id: i64,
    patch: CastMemberFields,
) -> ApiResult<cast_member::Model> {
    let mut model = find_cast_member(db, id).await?.into_active_model();
    if let Some(name) = &patch.name {
        model.name = Set(required_text("name", name, 200)?);
    }
    if let Some(english_name) = &patch.english_name {
        model.english_name = Set(optional_text("englishName", Some(english_name), 200)?);
    }
    if let Some(bio) = &patch.bio {
        model.bio = Set(optional_text("bio", Some(bio), 5_000)?);
    }
    model.updated_at = Set(Utc::now());
    let member = model.update(db).await?;
    record_change(db, CatalogObject::CastMember, id).await?;
    Ok(member)
}

#[tracing::instrument(name = "cast.delete_cast_member", skip_all, fields(id = id))]
pub async fn delete_cast_member(db: &impl ConnectionTrait, id: i64) -> ApiResult<()> {
    find_cast_member(db, id).await?;
    let roles = performance_cast::Entity::find()
        .filter(performance_cast::Column::CastMemberId.eq(id))
        .count(db)
        .await?;
    if roles > 0 {
        return Err(ApiError::Conflict(format!(
            "the cast member still has {roles} role(s) in performances; remove them first"
        )));
    }
    cast_member::Entity::delete_by_id(id)
        .exec(db)
        .await
        .map_err(|e| ApiError::from_db_conflict(e, "the cast member still plays in a performance"))?;
    record_change(db, CatalogObject::CastMember, id).await
}

pub async fn find_cast_member(db: &impl ConnectionTrait, id: i64) -> ApiResult<cast_member::Model> {
    cast_member::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("cast member"))
}

/// Cast members ordered by name, then id.
pub async fn list_cast_members(
    db: &impl ConnectionTrait,
    page: PageRequest<String>,
) -> ApiResult<Page<cast_member::Model>> {
    let mut query = cast_member::Entity::find()
        .order_by_asc(cast_member::Column::Name)
        .order_by_asc(cast_member::Column::Id);
    if let Some((name, id)) = page.after {
        query = query.filter(
            sea_orm::Condition::any()
                .add(cast_member::Column::Name.gt(name.clone()))
                .add(cast_member::Column::Name.eq(name).and(cast_member::Column::Id.gt(id))),
        );
    }
    let rows = query.limit(page.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

#[derive(Debug, Clone)]
pub struct NewRole {
    pub performance_id: i64,
    pub cast_member_id: i64,
    pub role: String,
    pub billing_order: i64,
}

#[tracing::instrument(name = "cast.add_role", skip_all)]
pub async fn add_role(db: &impl ConnectionTrait, input: NewRole) -> ApiResult<performance_cast::Model> {
    let role = required_text("role", &input.role, 200)?;
    let billing_order = in_range("billingOrder", input.billing_order, 0, 10_000)?;
    find_performance(db, input.performance_id)
        .await
        .map_err(|_| ApiError::bad_input("performanceId", "no such performance"))?;
    find_cast_member(db, input.cast_member_id)
        .await
        .map_err(|_| ApiError::bad_input("castMemberId", "no such cast member"))?;
    let role = performance_cast::ActiveModel {
        performance_id: Set(input.performance_id),
        cast_member_id: Set(input.cast_member_id),
        role: Set(role),
        billing_order: Set(billing_order),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| ApiError::from_db_conflict(e, "this cast member already plays this role in this performance"))?;
    // The performance is found by its cast's names, so its document changes.
    record_change(db, CatalogObject::Performance, role.performance_id).await?;
    Ok(role)
}

#[tracing::instrument(name = "cast.update_role", skip_all)]
pub async fn update_role(
    db: &impl ConnectionTrait,
    id: i64,
    role: Option<String>,
    billing_order: Option<i64>,
) -> ApiResult<performance_cast::Model> {
    let mut model = find_role(db, id).await?.into_active_model();
    if let Some(role) = role {
        model.role = Set(required_text("role", &role, 200)?);
    }
    if let Some(order) = billing_order {
        model.billing_order = Set(in_range("billingOrder", order, 0, 10_000)?);
    }
    let role = model
        .update(db)
        .await
        .map_err(|e| ApiError::from_db_conflict(e, "this cast member already plays this role in this performance"))?;
    record_change(db, CatalogObject::Performance, role.performance_id).await?;
    Ok(role)
}

#[tracing::instrument(name = "cast.remove_role", skip_all, fields(id = id))]
pub async fn remove_role(db: &impl ConnectionTrait, id: i64) -> ApiResult<()> {
    let role = find_role(db, id).await?;
    performance_cast::Entity::delete_by_id(id).exec(db).await?;
    record_change(db, CatalogObject::Performance, role.performance_id).await
}

/// The cast entries of these performances, in billing order (then id) within each.
pub async fn roles_in_performances(
    db: &impl ConnectionTrait,
    performance_ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<performance_cast::Model>, sea_orm::DbErr> {
    performance_cast::Entity::find()
        .filter(performance_cast::Column::PerformanceId.is_in(performance_ids))
        .order_by_asc(performance_cast::Column::BillingOrder)
        .order_by_asc(performance_cast::Column::Id)
        .all(db)
        .await
}

/// The cast members with these ids (an unknown id is left out), in no particular order.
pub async fn find_cast_members(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<cast_member::Model>, sea_orm::DbErr> {
    cast_member::Entity::find()
        .filter(cast_member::Column::Id.is_in(ids))
        .all(db)
        .await
}

pub async fn find_role(db: &impl ConnectionTrait, id: i64) -> ApiResult<performance_cast::Model> {
    performance_cast::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("cast role"))
}
