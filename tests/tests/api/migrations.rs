//! Every migration can be undone: rolling all of them back leaves an empty database, and
//! migrating again rebuilds exactly the same schema.

use curtain_tests::Backend;
use curtain_tests::scratch::ScratchDatabase;
use migration::{Migrator, MigratorTrait};

async fn every_migration_rolls_back_and_applies_again(backend: Backend) {
    let Some(scratch) = ScratchDatabase::create(backend).await else {
        return;
    };
    let db = &scratch.db;
    Migrator::up(db, None).await.expect("migrate up");
    let schema = scratch.objects().await;
    assert!(schema.iter().any(|name| name == "table session_seats"), "{schema:?}");

    // One step at a time, newest first, as an operator backing out a release would.
    let steps = Migrator::migrations().len();
    for left in (0..steps).rev() {
        Migrator::down(db, Some(1)).await.expect("migrate one step down");
        assert_eq!(Migrator::get_applied_migrations(db).await.expect("applied").len(), left);
    }
    assert_eq!(
        scratch.objects().await,
        Vec::<String>::new(),
        "rolling everything back leaves nothing behind"
    );

    Migrator::up(db, None).await.expect("migrate up again");
    assert_eq!(scratch.objects().await, schema, "the schema is rebuilt the same");
    scratch.drop().await;
}

#[tokio::test]
async fn sqlite_every_migration_rolls_back_and_applies_again() {
    every_migration_rolls_back_and_applies_again(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_migration_rolls_back_and_applies_again() {
    every_migration_rolls_back_and_applies_again(Backend::Postgres).await;
}
