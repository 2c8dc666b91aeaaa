//! The application state every handler and resolver shares. Cheap to clone: each part is a
//! handle (the pool is reference-counted inside).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::storage::LocalFiles;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub files: Arc<LocalFiles>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
