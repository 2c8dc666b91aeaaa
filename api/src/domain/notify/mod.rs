//! Notifications: stored in-app (and pushed to the buyer's subscription through the bus),
//! emailed over SMTP, and posted to the box office's Slack.
//!
//! [`notify`] writes the notification, one delivery row per configured channel and an
//! outbox event, all in the caller's transaction and keyed by a dedupe key, so a retried
//! event never notifies twice. Reservation events reach it from the outbox relay (see
//! [`ReservationNotifier`]), inside the relay's transaction: an event is marked published
//! only once its notifications exist, so none is lost. [`delivery`] then sends the rows,
//! each channel on its own, with retries.

pub mod delivery;
pub mod messages;

use chrono::Utc;
use entity::{ReservationStatus, delivery as delivery_row, notification, performance, reservation, session, user};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

pub use messages::{Facts, Kind};

use crate::domain::reservation_events::ReservationChanged;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::outbox::relay::DurableConsumer;
use crate::outbox::{self, Event, topic};

/// Which outside channels are configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Channels {
    pub email: bool,
    pub slack: bool,
}

pub const EMAIL: &str = "EMAIL";
pub const SLACK: &str = "SLACK";

/// What the `notification` outbox event (and so the live subscription) carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pushed {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    pub created_at: chrono::DateTime<Utc>,
}

/// Notifies `user_id` of `kind` once per `dedupe_key`; returns the notification, or `None`
/// when it had been made before.
pub async fn notify(
    db: &impl ConnectionTrait,
    channels: Channels,
    user_id: UserId,
    kind: Kind,
    dedupe_key: &str,
    facts: &Facts,
    data: serde_json::Value,
) -> ApiResult<Option<notification::Model>> {
    let user = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let message = messages::render(kind, facts, &user.language);
    let now = Utc::now();
    let inserted = notification::Entity::insert(notification::ActiveModel {
        user_id: Set(user_id.0),
        kind: Set(kind.as_str().to_string()),
        dedupe_key: Set(dedupe_key.to_string()),
        title: Set(message.title.clone()),
        body: Set(message.body.clone()),
        data: Set(data.to_string()),
        read_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(notification::Column::DedupeKey)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if inserted == 0 {
        return Ok(None);
    }
    let stored = notification::Entity::find()
        .filter(notification::Column::DedupeKey.eq(dedupe_key))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("notification"))?;
    if let (true, Some(email), None) = (channels.email, &user.email, user.dormant_at) {
        deliver(
            db,
            EMAIL,
            dedupe_key,
            email,
            &message.title,
            &message.body,
            Some(messages::html(&message)),
        )
        .await?;
    }
    if channels.slack && kind.for_box_office() {
        let line = messages::box_office_line(kind, facts);
        deliver(db, SLACK, dedupe_key, "", &line, &line, None).await?;
    }
    let pushed = Pushed {
        id: stored.id,
        user_id: user_id.0,
        kind: stored.kind.clone(),
        title: stored.title.clone(),
        body: stored.body.clone(),
        data,
        created_at: now,
    };
    outbox::record(db, topic::NOTIFICATION, user_id.0, None, &pushed).await?;
    Ok(Some(stored))
}

/// Queues one message on one channel, once per dedupe key.
pub async fn deliver(
    db: &impl ConnectionTrait,
    channel: &str,
    dedupe_key: &str,
    recipient: &str,
    subject: &str,
    text: &str,
    html: Option<String>,
) -> ApiResult<()> {
    let now = Utc::now();
    delivery_row::Entity::insert(delivery_row::ActiveModel {
        channel: Set(channel.to_string()),
        dedupe_key: Set(dedupe_key.to_string()),
        recipient: Set(recipient.to_string()),
        subject: Set(subject.to_string()),
        body_text: Set(text.to_string()),
        body_html: Set(html),
        status: Set(delivery::PENDING.to_string()),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(now),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([delivery_row::Column::Channel, delivery_row::Column::DedupeKey])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The facts of a reservation for its messages.
pub async fn reservation_facts(db: &impl ConnectionTrait, reservation: &reservation::Model) -> ApiResult<Facts> {
    let session = session::Entity::find_by_id(reservation.session_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    let performance = performance::Entity::find_by_id(session.performance_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("performance"))?;
    Ok(Facts {
        buyer_name: String::new(),
        performance_title: performance.title,
        starts_at: Some(session.starts_at),
        seat_count: reservation.seat_count,
        amount: reservation.amount,
        reservation_id: Some(reservation.id),
        expires_at: Some(reservation.expires_at),
    })
}

/// Turns reservation events into notifications, inside the outbox relay's transaction.
pub struct ReservationNotifier {
    pub channels: Channels,
}

#[async_trait::async_trait]
impl DurableConsumer for ReservationNotifier {
    async fn consume(&self, txn: &DatabaseTransaction, events: &[Event]) -> anyhow::Result<()> {
        self.notify_all(txn, events).await.map_err(ApiError::into_anyhow)
    }
}

impl ReservationNotifier {
    async fn notify_all(&self, txn: &DatabaseTransaction, events: &[Event]) -> ApiResult<()> {
        for event in events.iter().filter(|e| e.topic == topic::RESERVATION) {
            let Ok(change) = serde_json::from_value::<ReservationChanged>(event.payload.clone()) else {
                tracing::warn!(
                    event = event.id,
                    "a reservation event could not be read; no notification"
                );
                continue;
            };
            let kind = match change.status {
                ReservationStatus::Held => Kind::HoldPlaced,
                ReservationStatus::Confirmed => Kind::PaymentConfirmed,
                ReservationStatus::Cancelled => Kind::ReservationCancelled,
                ReservationStatus::Expired => Kind::HoldExpired,
                ReservationStatus::Paying | ReservationStatus::Released => continue,
            };
            let Some(reservation) = reservation::Entity::find_by_id(change.reservation_id).one(txn).await? else {
                continue;
            };
            // Seats the waitlist handed over: the buyer did not ask for this hold just now.
            let kind = if kind == Kind::HoldPlaced
                && crate::domain::waitlist::offered_entry(txn, &reservation)
                    .await?
                    .is_some()
            {
                Kind::WaitlistOffered
            } else {
                kind
            };
            let facts = Facts {
                // The amount and seats as of the event, not as of now.
                amount: change.amount,
                seat_count: change.seat_count,
                ..reservation_facts(txn, &reservation).await?
            };
            let key = format!("reservation:{}:{}", change.reservation_id, kind.as_str());
            let data = serde_json::json!({ "reservationId": crate::ids::encode(crate::ids::NodeKind::Reservation, change.reservation_id).to_string() });
            notify(txn, self.channels, UserId(change.user_id), kind, &key, &facts, data).await?;
        }
        Ok(())
    }
}
