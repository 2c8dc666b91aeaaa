//! Settings of the notification channels: SMTP for email, a Slack incoming webhook for the
//! box office. Each channel is off until configured.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// SMTP server; email is off (with a log line at start-up) until this is set.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `none` (plain, for a local relay), `starttls` or `tls`.
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<SecretString>,
    /// The From header of every email.
    pub email_from: String,
    /// Slack incoming-webhook URL for box-office messages; Slack is off until set.
    pub slack_webhook_url: Option<SecretString>,
    /// Timeout of one send, per channel.
    pub timeout_seconds: u64,
    /// Attempts per message before it is given up (and recorded as FAILED).
    pub max_attempts: i32,
    /// First retry delay; each next one doubles (with jitter), up to an hour.
    pub retry_base_ms: u64,
    /// How often each channel looks for messages due.
    pub poll_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            email_from: "Curtain <no-reply@curtain.local>".into(),
            slack_webhook_url: None,
            timeout_seconds: 10,
            max_attempts: 8,
            retry_base_ms: 2_000,
            poll_ms: 1_000,
        }
    }
}
