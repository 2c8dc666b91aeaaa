//! Settings of logging.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter directives, e.g. `info,curtain=debug`. `RUST_LOG` wins when set.
    pub filter: String,
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info,sea_orm=warn,sea_orm_migration=info".into(),
            format: LogFormat::Pretty,
        }
    }
}
