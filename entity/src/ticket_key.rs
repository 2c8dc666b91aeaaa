use sea_orm::entity::prelude::*;

/// An Ed25519 key that signs ticket payloads. The newest one not retired signs; every one
/// verifies, so rotating keys never invalidates a ticket already issued.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// The 32-byte secret seed, base64url. Never leaves the server.
    pub seed: String,
    /// The public key, base64url, as the well-known key set publishes it.
    pub public_key: String,
    pub created_at: DateTimeUtc,
    pub retired_at: Option<DateTimeUtc>,
    /// When it stopped being trusted at all: it is neither published nor verifies.
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
