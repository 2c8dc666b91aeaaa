//! A fresh PostgreSQL database per test (made on `CURTAIN_TEST_DATABASE_URL`'s server and
//! dropped after), and the URL helpers that name it.

use sea_orm::{ConnectionTrait, Database};

use crate::test_env;

pub(crate) struct PostgresDatabase {
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    pub(crate) async fn create() -> Option<Self> {
        let admin_url = test_env("CURTAIN_TEST_DATABASE_URL", "the PostgreSQL variant of this test")?;
        let name = format!("curtain_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at CURTAIN_TEST_DATABASE_URL: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        admin.close().await.ok();
        Some(Self { admin_url, name })
    }

    pub(crate) fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    pub(crate) async fn drop_database(self) {
        if let Ok(admin) = Database::connect(&self.admin_url).await {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .await;
            admin.close().await.ok();
        }
    }
}

/// The database name in a PostgreSQL URL.
pub fn database_name(url: &str) -> &str {
    let base = url.split('?').next().unwrap_or(url);
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    base[authority_start..].split_once('/').map_or("", |(_, name)| name)
}

/// Replaces the database name in a PostgreSQL URL.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5432", "t3"), "postgres://h:5432/t3");
        assert_eq!(database_name("postgres://u:p@h:5432/t4?sslmode=disable"), "t4");
        assert_eq!(database_name("postgres://h:5432"), "");
    }
}
