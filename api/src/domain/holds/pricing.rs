//! Whether a batch's session is on sale, what its seats cost and what its orders are called:
//! read once per batch, before its transaction, rather than once per request.

use std::collections::HashMap;

use chrono::Utc;
use entity::{performance, seat, session};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::ReadyHold;
use crate::domain::sessions::{SaleState, prices_by_grade, sale_state};
use crate::error::{ApiError, ApiResult};

/// The session as a batch finds it.
pub(super) enum Sale {
    Open(Pricing),
    /// Every request of the batch gets this answer.
    Closed(fn() -> ApiError),
}

/// Each seat's grade, each grade's price in the session, and the performance's title.
pub(super) struct Pricing {
    session_id: i64,
    grades: HashMap<i64, String>,
    prices: HashMap<String, i32>,
    title: String,
}

/// Reads what `holds` (all for `session_id`) need to be priced and named.
pub(super) async fn read(db: &impl ConnectionTrait, session_id: i64, holds: &[ReadyHold]) -> ApiResult<Sale> {
    let Some(session) = session::Entity::find_by_id(session_id).one(db).await? else {
        return Ok(Sale::Closed(|| ApiError::NotFound("session")));
    };
    if !matches!(sale_state(&session, Utc::now()), SaleState::OnSale | SaleState::SoldOut) {
        return Ok(Sale::Closed(|| {
            ApiError::Conflict("this session is not on sale".into())
        }));
    }
    let grades: Vec<(i64, String)> = seat::Entity::find()
        .select_only()
        .column(seat::Column::Id)
        .column(seat::Column::Grade)
        .filter(seat::Column::Id.is_in(holds.iter().flat_map(|h| h.request.seat_ids.iter().copied())))
        .into_tuple()
        .all(db)
        .await?;
    let title: Option<String> = performance::Entity::find_by_id(session.performance_id)
        .select_only()
        .column(performance::Column::Title)
        .into_tuple()
        .one(db)
        .await?;
    Ok(Sale::Open(Pricing {
        session_id,
        grades: grades.into_iter().collect(),
        prices: prices_by_grade(db, session_id).await?,
        title: title.unwrap_or_default(),
    }))
}

impl Pricing {
    /// Each seat with its grade and price.
    pub(super) fn price(&self, seat_ids: &[i64]) -> ApiResult<Vec<(i64, String, i32)>> {
        seat_ids
            .iter()
            .map(|&id| {
                let grade = self
                    .grades
                    .get(&id)
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("seat {id} has no grade")))?;
                let price = self.prices.get(grade).copied().ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!(
                        "session {} has no price for grade {grade}",
                        self.session_id
                    ))
                })?;
                Ok((id, grade.clone(), price))
            })
            .collect()
    }

    /// The order name Toss shows the buyer for `seats` seats.
    pub(super) fn order_name(&self, seats: usize) -> String {
        crate::domain::orders::order_name_of(&self.title, seats)
    }
}
