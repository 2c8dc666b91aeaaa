//! Curtain's database migrations, run on SQLite and PostgreSQL alike.
//!
//! Each migration is named by its timestamp and has both `up` and `down`. The `curtain`
//! binary runs them at start-up (unless disabled) and through `curtain migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_catalog;
mod m20261122_000002_inventory;
mod m20261122_000003_accounts;
mod m20261122_000004_reservations;
mod m20261124_000005_outbox;
mod m20261124_000006_notifications_jobs;
mod m20261125_000007_coupons;
mod m20261125_000008_payments;
mod m20261125_000010_reviews;
mod m20261204_000011_waiting_room;
mod m20261204_000012_tickets;
mod m20261204_000013_waitlist;
mod m20261204_000014_partial_refunds;
mod m20261204_000015_waitlist_seat_cap;
mod m20261205_000016_outbox_topic_created;
mod m20261205_000017_session_seat_partial_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_catalog::Migration),
            Box::new(m20261122_000002_inventory::Migration),
            Box::new(m20261122_000003_accounts::Migration),
            Box::new(m20261122_000004_reservations::Migration),
            Box::new(m20261124_000005_outbox::Migration),
            Box::new(m20261124_000006_notifications_jobs::Migration),
            Box::new(m20261125_000007_coupons::Migration),
            Box::new(m20261125_000008_payments::Migration),
            Box::new(m20261125_000010_reviews::Migration),
            Box::new(m20261204_000011_waiting_room::Migration),
            Box::new(m20261204_000012_tickets::Migration),
            Box::new(m20261204_000013_waitlist::Migration),
            Box::new(m20261204_000014_partial_refunds::Migration),
            Box::new(m20261204_000015_waitlist_seat_cap::Migration),
            Box::new(m20261205_000016_outbox_topic_created::Migration),
            Box::new(m20261205_000017_session_seat_partial_indexes::Migration),
        ]
    }
}
