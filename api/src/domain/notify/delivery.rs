//! Sends queued deliveries: one worker per configured channel, so a channel that keeps
//! failing never holds up the others. At-least-once: a row is sent, then marked SENT; a
//! failure is retried with exponential backoff and jitter until `max_attempts`, then marked
//! FAILED with its last error. Several instances may run workers: a row is claimed with a
//! conditional update (a lease) before it is sent, so only one of them sends it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use entity::delivery;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use secrecy::ExposeSecret;

use crate::config::{NotificationSettings, SmtpTls};

pub const PENDING: &str = "PENDING";
pub const SENT: &str = "SENT";
pub const FAILED: &str = "FAILED";

/// How long a claimed row is left alone by other workers while it is being sent.
const LEASE: Duration = Duration::from_secs(120);

/// One way out: SMTP or a Slack webhook.
#[async_trait]
pub trait Channel: Send + Sync {
    /// The channel name stored on delivery rows.
    fn name(&self) -> &'static str;
    async fn send(&self, message: &delivery::Model) -> anyhow::Result<()>;
}

/// Email over SMTP (lettre), plain text and HTML.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Email {
    pub fn from_settings(settings: &NotificationSettings) -> anyhow::Result<Option<Self>> {
        let Some(host) = settings.smtp_host.as_deref() else {
            return Ok(None);
        };
        let builder = match settings.smtp_tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
        };
        let mut builder = builder
            .port(settings.smtp_port)
            .timeout(Some(Duration::from_secs(settings.timeout_seconds)));
        if let (Some(user), Some(password)) = (&settings.smtp_username, &settings.smtp_password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_string()));
        }
        let from: Mailbox = settings.email_from.parse().with_context(|| {
            format!(
                "notifications.email_from {:?} is not an email address",
                settings.email_from
            )
        })?;
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }
}

#[async_trait]
impl Channel for Email {
    fn name(&self) -> &'static str {
        super::EMAIL
    }

    async fn send(&self, message: &delivery::Model) -> anyhow::Result<()> {
        let to: Mailbox = message
            .recipient
            .parse()
            .context("the recipient is not an email address")?;
        let builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            .message_id(Some(format!(
                "<{}.{}@curtain>",
                message.dedupe_key.replace([':', ' '], "."),
                message.id
            )));
        let email = match &message.body_html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                message.body_text.clone(),
                html.clone(),
            ))?,
            None => builder.body(message.body_text.clone())?,
        };
        self.transport.send(email).await?;
        Ok(())
    }
}

/// Box-office messages to a Slack incoming webhook.
pub struct Slack {
    client: reqwest::Client,
    url: secrecy::SecretString,
}

impl Slack {
    pub fn from_settings(settings: &NotificationSettings) -> anyhow::Result<Option<Self>> {
        let Some(url) = settings.slack_webhook_url.clone() else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_seconds))
            .build()?;
        Ok(Some(Self { client, url }))
    }
}

#[async_trait]
impl Channel for Slack {
    fn name(&self) -> &'static str {
        super::SLACK
    }

    async fn send(&self, message: &delivery::Model) -> anyhow::Result<()> {
        let response = self
            .client
            .post(self.url.expose_secret())
            .json(&serde_json::json!({ "text": message.body_text }))
            .send()
            .await
            // reqwest's error names the URL, and a webhook URL is a secret.
            .map_err(|e| anyhow::anyhow!("the Slack webhook did not answer: {}", e.without_url()))?;
        if !response.status().is_success() {
            anyhow::bail!("the Slack webhook answered {}", response.status());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_attempts: i32,
    pub retry_base: Duration,
    pub poll_every: Duration,
}

/// Runs one channel's worker until aborted.
pub fn spawn(db: DatabaseConnection, channel: Arc<dyn Channel>, policy: Policy) -> tokio::task::JoinHandle<()> {
    crate::metrics::spawn_background(async move {
        loop {
            match send_due(&db, channel.as_ref(), policy).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(channel = channel.name(), error = ?err, "sending notifications failed; will retry")
                }
            }
            tokio::time::sleep(policy.poll_every).await;
        }
    })
}

/// Sends what is due on one channel; returns how many rows were tried.
pub async fn send_due(db: &DatabaseConnection, channel: &dyn Channel, policy: Policy) -> anyhow::Result<usize> {
    let now = Utc::now();
    let due = delivery::Entity::find()
        .filter(delivery::Column::Channel.eq(channel.name()))
        .filter(delivery::Column::Status.eq(PENDING))
        .filter(delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(delivery::Column::NextAttemptAt)
        .limit(20)
        .all(db)
        .await?;
    let mut tried = 0;
    for row in due {
        let lease_until = now + chrono::Duration::from_std(LEASE)?;
        let claimed = delivery::Entity::update_many()
            .col_expr(delivery::Column::NextAttemptAt, Expr::value(lease_until))
            .filter(delivery::Column::Id.eq(row.id))
            .filter(delivery::Column::Status.eq(PENDING))
            .filter(delivery::Column::NextAttemptAt.eq(row.next_attempt_at))
            .exec(db)
            .await?
            .rows_affected;
        if claimed == 0 {
            continue; // another worker has it
        }
        tried += 1;
        let attempts = row.attempts + 1;
        let outcome = channel.send(&row).await;
        let mut update = delivery::Entity::update_many()
            .col_expr(delivery::Column::Attempts, Expr::value(attempts))
            .filter(delivery::Column::Id.eq(row.id));
        update = match &outcome {
            Ok(()) => update
                .col_expr(delivery::Column::Status, Expr::value(SENT))
                .col_expr(delivery::Column::SentAt, Expr::value(Utc::now())),
            Err(err) => {
                let status = if attempts >= policy.max_attempts {
                    FAILED
                } else {
                    PENDING
                };
                tracing::warn!(channel = channel.name(), delivery = row.id, attempts, status, error = %err, "a notification could not be sent");
                update
                    .col_expr(delivery::Column::Status, Expr::value(status))
                    .col_expr(delivery::Column::LastError, Expr::value(format!("{err:#}")))
                    .col_expr(
                        delivery::Column::NextAttemptAt,
                        Expr::value(Utc::now() + chrono::Duration::from_std(backoff(policy.retry_base, attempts))?),
                    )
            }
        };
        update.exec(db).await?;
    }
    Ok(tried)
}

/// Exponential backoff with full jitter, capped at an hour.
fn backoff(base: Duration, attempts: i32) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempts.clamp(0, 20) as u32)
        .min(Duration::from_secs(3600));
    let millis = exp.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        assert!(backoff(base, 1) <= Duration::from_millis(200));
        assert!(backoff(base, 5) >= Duration::from_millis(1600));
        assert!(backoff(base, 30) <= Duration::from_secs(3600));
    }
}
