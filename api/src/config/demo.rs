//! Settings of the demo catalog.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoSettings {
    /// Load the demo catalog when the database has no venues at start-up.
    pub seed_when_empty: bool,
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self { seed_when_empty: true }
    }
}
