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
    // The seat inventory's reservation and hold-expiry indexes are partial, and rolling
    // back their migration makes them whole again.
    let partial = |objects: &[String]| {
        objects
            .iter()
            .filter(|o| o.contains("idx_session_seats_") && o.contains("WHERE"))
            .count()
    };
    assert_eq!(partial(&schema), 2, "{schema:?}");
    let partial_indexes = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261205_000017_session_seat_partial_indexes")
        .expect("the partial-index migration");

    // One step at a time, newest first, as an operator backing out a release would.
    let steps = Migrator::migrations().len();
    for left in (0..steps).rev() {
        Migrator::down(db, Some(1)).await.expect("migrate one step down");
        assert_eq!(Migrator::get_applied_migrations(db).await.expect("applied").len(), left);
        if left == partial_indexes {
            let objects = scratch.objects().await;
            assert_eq!(partial(&objects), 0, "{objects:?}");
            assert!(
                objects.iter().any(|o| o.contains("idx_session_seats_hold_expiry")),
                "{objects:?}"
            );
        }
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
