//! The keys that sign tickets, and the signed payload a ticket's QR code carries.
//!
//! A payload is a compact JWS (RFC 7515) signed with EdDSA over Ed25519 (RFC 8037):
//! `base64url(header) . base64url(claims) . base64url(signature)`, the header naming the key
//! (`kid`). A scanner with no network verifies it with the public keys published at
//! `/.well-known/curtain-ticket-keys.json` (a JSON Web Key Set), with any JOSE library.
//!
//! Keys live in the database, so that every instance signs and verifies alike with no
//! configuration. The newest key that is not retired signs; every key verifies, so rotating
//! ([`TicketKeys::rotate`]) never invalidates a ticket already issued. Each instance keeps
//! the keys in memory and reads them again when it meets a key id it does not know but the
//! database does, and when its copy is older than [`REFRESH_AFTER`]: that is how a rotation
//! made on another instance reaches this one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use entity::ticket_key;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::error::{ApiError, ApiResult};

mod jws;

use jws::{decode_seed, decode_signature, sign_with, split};

/// How old an instance's copy of the keys may get before it reads them again: how long
/// another instance may go on signing with a key this one rotated away.
const REFRESH_AFTER: Duration = Duration::from_secs(10);
/// The key id of the first key, made when the first ticket is shown.
const FIRST_KID: &str = "tk-first";

/// What a ticket's payload says. Short names: it has to fit a QR code a phone shows at arm's
/// length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClaims {
    /// The ticket id.
    pub tid: i64,
    /// The session it admits to.
    pub sid: i64,
    /// The seat id.
    pub seat: i64,
    /// The ticket's generation when signed: a transfer makes older payloads stale.
    #[serde(rename = "gen")]
    pub generation: i32,
    /// When it was signed (Unix seconds).
    pub iat: i64,
}

/// Why a payload was refused. Never says more to the scanner than "not a ticket of ours".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forged {
    Malformed,
    UnknownKey,
    BadSignature,
}

/// One public key as the JSON Web Key Set publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub crv: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub kid: String,
    pub x: String,
}

struct Loaded {
    signing: Option<(String, SigningKey)>,
    verifying: HashMap<String, VerifyingKey>,
    published: Vec<PublicJwk>,
    loaded_at: Instant,
}

/// This instance's copy of the ticket keys.
pub struct TicketKeys {
    loaded: RwLock<Option<Loaded>>,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKeys").finish_non_exhaustive()
    }
}

impl Default for TicketKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TicketKeys {
    pub fn new() -> Self {
        Self {
            loaded: RwLock::new(None),
        }
    }

    /// Signs `claims` with the current key, making the first key if there is none yet.
    pub async fn sign(&self, db: &impl ConnectionTrait, claims: &TicketClaims) -> ApiResult<String> {
        let (kid, key) = self.signing_key(db).await?;
        Ok(sign_with(&kid, &key, claims))
    }

    /// Signs an arbitrary short message (a link's parameters) with the current key, for
    /// [`Self::verify_detached`] on any instance; returns the key id and the signature.
    pub async fn sign_detached(&self, db: &impl ConnectionTrait, message: &str) -> ApiResult<(String, String)> {
        let (kid, key) = self.signing_key(db).await?;
        let signature = key.sign(message.as_bytes());
        Ok((kid, URL_SAFE_NO_PAD.encode(signature.to_bytes())))
    }

    /// Whether `signature` (from [`Self::sign_detached`]) is `kid`'s over `message`.
    pub async fn verify_detached(
        &self,
        db: &impl ConnectionTrait,
        kid: &str,
        message: &str,
        signature: &str,
    ) -> ApiResult<bool> {
        let Some(key) = self.verifying_key(db, kid).await? else {
            return Ok(false);
        };
        let Some(signature) = decode_signature(signature) else {
            return Ok(false);
        };
        Ok(key.verify_strict(message.as_bytes(), &signature).is_ok())
    }

    /// The claims of a payload this service signed, or why it is not one.
    pub async fn verify(&self, db: &impl ConnectionTrait, payload: &str) -> ApiResult<Result<TicketClaims, Forged>> {
        let Some(parts) = split(payload) else {
            return Ok(Err(Forged::Malformed));
        };
        let Some(key) = self.verifying_key(db, &parts.header.kid).await? else {
            return Ok(Err(Forged::UnknownKey));
        };
        Ok(parts.verify(&key))
    }

    /// The public keys, newest first, for the well-known key set; makes the first key if
    /// there is none yet, so a scanner set up before any ticket was shown has it.
    pub async fn published(&self, db: &impl ConnectionTrait) -> ApiResult<Vec<PublicJwk>> {
        self.signing_key(db).await?;
        Ok(self
            .loaded
            .read()
            .await
            .as_ref()
            .map(|loaded| loaded.published.clone())
            .unwrap_or_default())
    }

    /// Makes a new signing key and retires the others from signing (they still verify), in
    /// the caller's transaction; returns the new key id. With `revoke_previous` (a key
    /// leaked), the others stop verifying too: payloads signed with them are refused until
    /// their holders open their tickets again and get one signed with the new key. Call
    /// [`Self::refresh`] after the commit to act on it at once here; other instances sign with it within
    /// [`REFRESH_AFTER`], and refuse revoked keys at once.
    pub async fn rotate(&self, db: &impl ConnectionTrait, revoke_previous: bool) -> ApiResult<String> {
        let now = Utc::now();
        if revoke_previous {
            ticket_key::Entity::update_many()
                .col_expr(ticket_key::Column::RevokedAt, Expr::value(now))
                .filter(ticket_key::Column::RevokedAt.is_null())
                .exec(db)
                .await?;
        }
        ticket_key::Entity::update_many()
            .col_expr(ticket_key::Column::RetiredAt, Expr::value(now))
            .filter(ticket_key::Column::RetiredAt.is_null())
            .exec(db)
            .await?;
        insert_key(db, &format!("tk-{}", hex::encode(rand::random::<[u8; 6]>())), false).await
    }

    /// Reads the keys again now.
    pub async fn refresh(&self, db: &impl ConnectionTrait) -> ApiResult<()> {
        self.reload(db).await
    }

    async fn signing_key(&self, db: &impl ConnectionTrait) -> ApiResult<(String, SigningKey)> {
        self.refresh_if_stale(db).await?;
        if let Some(found) = self.current_signing().await {
            return Ok(found);
        }
        // No key yet: the first ticket shown makes one, under a fixed key id, so that when
        // several requests or instances do it at once, one key is kept and all sign with it.
        insert_key(db, FIRST_KID, true).await?;
        self.reload(db).await?;
        self.current_signing()
            .await
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no ticket signing key after making one")))
    }

    async fn current_signing(&self) -> Option<(String, SigningKey)> {
        self.loaded
            .read()
            .await
            .as_ref()
            .and_then(|loaded| loaded.signing.clone())
    }

    async fn verifying_key(&self, db: &impl ConnectionTrait, kid: &str) -> ApiResult<Option<VerifyingKey>> {
        self.refresh_if_stale(db).await?;
        let known = self.known(kid).await;
        if known.is_some() && self.current_signing().await.is_some_and(|(signing, _)| signing == kid) {
            return Ok(known);
        }
        // An older key (revoked on another instance, perhaps, since this one read them) or
        // one this instance has not seen (a rotation elsewhere): one lookup by primary key,
        // so that a revocation holds everywhere at once, and a reload only when the answer
        // differs from what this instance holds; made-up key ids cost that lookup, no more.
        let stored = ticket_key::Entity::find_by_id(kid.to_string()).one(db).await?;
        let trusted = stored.is_some_and(|key| key.revoked_at.is_none());
        if trusted != known.is_some() {
            self.reload(db).await?;
        }
        Ok(if trusted { self.known(kid).await } else { None })
    }

    async fn known(&self, kid: &str) -> Option<VerifyingKey> {
        self.loaded
            .read()
            .await
            .as_ref()
            .and_then(|loaded| loaded.verifying.get(kid).copied())
    }

    async fn refresh_if_stale(&self, db: &impl ConnectionTrait) -> ApiResult<()> {
        let stale = self
            .loaded
            .read()
            .await
            .as_ref()
            .is_none_or(|l| l.loaded_at.elapsed() >= REFRESH_AFTER);
        if stale {
            self.reload(db).await?;
        }
        Ok(())
    }

    async fn reload(&self, db: &impl ConnectionTrait) -> ApiResult<()> {
        let rows = ticket_key::Entity::find()
            .order_by_desc(ticket_key::Column::CreatedAt)
            .order_by_desc(ticket_key::Column::Kid)
            .all(db)
            .await?;
        let mut loaded = Loaded {
            signing: None,
            verifying: HashMap::new(),
            published: Vec::new(),
            loaded_at: Instant::now(),
        };
        for row in rows.into_iter().filter(|row| row.revoked_at.is_none()) {
            let Some(seed) = decode_seed(&row.seed) else {
                tracing::error!(kid = row.kid, "a ticket key's seed cannot be read; it is skipped");
                continue;
            };
            let key = SigningKey::from_bytes(&seed);
            if row.retired_at.is_none() && loaded.signing.is_none() {
                loaded.signing = Some((row.kid.clone(), key.clone()));
            }
            loaded.published.push(PublicJwk {
                kty: "OKP",
                crv: "Ed25519",
                use_: "sig",
                alg: "EdDSA",
                kid: row.kid.clone(),
                x: URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            });
            loaded.verifying.insert(row.kid, key.verifying_key());
        }
        *self.loaded.write().await = Some(loaded);
        Ok(())
    }
}

/// Stores a fresh key under `kid`; with `keep_existing`, a key already stored under that id
/// stays and this one is dropped.
async fn insert_key(db: &impl ConnectionTrait, kid: &str, keep_existing: bool) -> ApiResult<String> {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let row = ticket_key::ActiveModel {
        kid: Set(kid.to_string()),
        seed: Set(URL_SAFE_NO_PAD.encode(seed)),
        public_key: Set(URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())),
        created_at: Set(Utc::now()),
        retired_at: Set(None),
        revoked_at: Set(None),
    };
    let mut insert = ticket_key::Entity::insert(row);
    if keep_existing {
        insert = insert.on_conflict(OnConflict::column(ticket_key::Column::Kid).do_nothing().to_owned());
    }
    insert.exec_without_returning(db).await?;
    Ok(kid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            tid: 7,
            sid: 3,
            seat: 41,
            generation: 0,
            iat: 1_780_000_000,
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[9u8; 32])
    }

    #[test]
    fn a_payload_verifies_with_its_key_and_reads_back() {
        let payload = sign_with("k1", &key(), &claims());
        let parts = split(&payload).expect("well formed");
        assert_eq!(parts.header.kid, "k1");
        assert_eq!(parts.verify(&key().verifying_key()), Ok(claims()));
    }

    #[test]
    fn any_change_to_a_payload_is_refused() {
        let payload = sign_with("k1", &key(), &claims());
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let parts = split(&payload).expect("well formed");
        assert_eq!(parts.verify(&other.verifying_key()), Err(Forged::BadSignature));

        // Another ticket id under the original signature.
        let (head, rest) = payload.split_once('.').expect("three parts");
        let (_, signature) = rest.split_once('.').expect("three parts");
        let forged_claims =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&TicketClaims { tid: 8, ..claims() }).expect("serialises"));
        let forged = format!("{head}.{forged_claims}.{signature}");
        let parts = split(&forged).expect("well formed");
        assert_eq!(parts.verify(&key().verifying_key()), Err(Forged::BadSignature));
    }

    #[test]
    fn other_algorithms_types_and_shapes_are_not_read() {
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1","typ":"curtain-ticket"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"tid":1,"sid":1,"seat":1,"gen":0,"iat":0}"#)
        );
        assert!(split(&none).is_none());
        assert!(split("not a ticket").is_none());
        assert!(split(&"a.".repeat(600)).is_none());
    }

    /// The payload is a standard JWS: an independent implementation (jsonwebtoken) verifies
    /// it with nothing but the published JSON Web Key, as an offline scanner would.
    #[test]
    fn a_standard_jose_library_verifies_a_payload_with_the_published_key() {
        let payload = sign_with("k1", &key(), &claims());
        let x = URL_SAFE_NO_PAD.encode(key().verifying_key().to_bytes());
        let decoding = jsonwebtoken::DecodingKey::from_ed_components(&x).expect("an Ed25519 JWK");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let read = jsonwebtoken::decode::<TicketClaims>(&payload, &decoding, &validation).expect("verifies");
        assert_eq!(read.claims, claims());
    }
}
