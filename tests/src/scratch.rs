//! An empty database with no server attached, for tests of the schema itself (migrations),
//! where a running application's background tasks would be in the way.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::{Backend, PostgresDatabase};

pub struct ScratchDatabase {
    pub db: DatabaseConnection,
    postgres: Option<PostgresDatabase>,
    _dir: tempfile::TempDir,
}

impl ScratchDatabase {
    /// A new, empty database; `None` only for PostgreSQL when none is configured outside CI.
    pub async fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (url, postgres) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("scratch.db").display()),
                None,
            ),
            Backend::Postgres => {
                let database = PostgresDatabase::create().await?;
                (database.url(), Some(database))
            }
        };
        let db = Database::connect(&url).await.expect("connect to the scratch database");
        Some(Self {
            db,
            postgres,
            _dir: dir,
        })
    }

    /// The tables and (on PostgreSQL) enum types in the database, sorted; the migrations'
    /// own bookkeeping table is left out.
    pub async fn objects(&self) -> Vec<String> {
        let sql = match self.db.get_database_backend() {
            DbBackend::Sqlite => {
                "SELECT 'table ' || name AS name FROM sqlite_master \
                 WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations' \
                 UNION ALL SELECT 'index ' || sql FROM sqlite_master \
                 WHERE type = 'index' AND sql IS NOT NULL AND tbl_name <> 'seaql_migrations'"
            }
            _ => {
                "SELECT 'table ' || tablename AS name FROM pg_tables \
                 WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' \
                 UNION ALL SELECT 'type ' || t.typname FROM pg_type t \
                 JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE n.nspname = 'public' AND t.typtype = 'e' \
                 UNION ALL SELECT 'index ' || indexdef FROM pg_indexes \
                 WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'"
            }
        };
        let rows = self
            .db
            .query_all_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .expect("list the schema's objects");
        let mut names: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", "name").expect("name"))
            .collect();
        names.sort();
        names
    }

    pub async fn drop(self) {
        self.db.close().await.ok();
        if let Some(postgres) = self.postgres {
            postgres.drop_database().await;
        }
    }
}
