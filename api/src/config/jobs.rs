//! Settings of the scheduled jobs: when each runs, and the thresholds they apply.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Run jobs on their schedules in this process (turn off on instances that should only
    /// serve requests; `curtain job run NAME` works either way).
    pub enabled: bool,
    /// Cron expressions (with seconds: `sec min hour day month weekday`, UTC) by job name;
    /// a job missing here keeps its default, an empty string turns it off.
    pub schedules: BTreeMap<String, String>,
    /// Performances whose run ended more than this many days ago are purged.
    pub purge_after_days: i64,
    /// Accounts unused this many days go dormant.
    pub dormant_after_days: i64,
    /// Owners are warned this many days before.
    pub dormant_warning_days: i64,
    /// Stored files no performance refers to are deleted once they are this many hours
    /// old; younger ones may be uploads about to be attached.
    pub orphan_grace_hours: i64,
    /// Rows handled per batch (keyset pages).
    pub batch_size: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            schedules: BTreeMap::new(),
            purge_after_days: 365,
            dormant_after_days: 365,
            dormant_warning_days: 30,
            orphan_grace_hours: 24,
            batch_size: 500,
        }
    }
}
