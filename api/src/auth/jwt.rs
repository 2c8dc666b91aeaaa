//! Access tokens: short-lived JWTs signed with HS256 under a key id (`kid`).
//!
//! Keys come from configuration; the first signs and all verify, so a key is rotated by
//! putting a new one first and removing the old one once its tokens have expired. With no
//! key configured, one is generated once and kept in the data directory. The algorithm is
//! fixed here, never taken from the token: `alg: none`, another algorithm, an unknown `kid`,
//! a bad signature or an expired token are all refused.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// `USER` or `ADMIN`.
    pub role: String,
    /// This token's id.
    pub jti: String,
    /// The log-in session (refresh-token family) the token belongs to; revoking the session
    /// deny-lists it, which stops every access token of that session at once.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was refused; only ever logged, the client just gets UNAUTHENTICATED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    UnknownKey,
    Invalid,
    Expired,
    /// Signed and unexpired, but whether its session was ended cannot be told now (the
    /// deny-list is unreachable): refused, as UNAVAILABLE, so that clients retry rather than
    /// log the buyer out.
    Unverifiable,
}

pub struct JwtKeys {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    access_ttl: Duration,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("signing_kid", &self.signing_kid)
            .finish_non_exhaustive()
    }
}

/// Shortest secret accepted: HS256 is only as strong as its key.
const MIN_SECRET_BYTES: usize = 32;

impl JwtKeys {
    /// Keys from the settings, or the generated key in `data_dir` when none are configured.
    pub fn load(settings: &AuthSettings, data_dir: &Path) -> anyhow::Result<Self> {
        let mut keys: Vec<(String, Vec<u8>)> = settings
            .jwt_keys
            .iter()
            .map(|k| (k.kid.clone(), k.secret.expose_secret().as_bytes().to_vec()))
            .collect();
        if keys.is_empty() {
            keys.push(local_key(data_dir)?);
        }
        for (kid, secret) in &keys {
            if secret.len() < MIN_SECRET_BYTES {
                anyhow::bail!("the JWT key {kid:?} is shorter than {MIN_SECRET_BYTES} bytes; use a long random secret");
            }
        }
        Ok(Self::from_keys(&keys, Duration::minutes(settings.access_token_minutes)))
    }

    pub fn from_keys(keys: &[(String, Vec<u8>)], access_ttl: Duration) -> Self {
        let (signing_kid, signing_secret) = keys.first().cloned().unwrap_or_default();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            signing: EncodingKey::from_secret(&signing_secret),
            signing_kid,
            verifying: keys
                .iter()
                .map(|(kid, secret)| (kid.clone(), DecodingKey::from_secret(secret)))
                .collect(),
            access_ttl,
            validation,
        }
    }

    /// A fresh access token and when it expires.
    pub fn issue(&self, user_id: i64, role: &str, session_id: &str) -> anyhow::Result<(String, DateTime<Utc>)> {
        let now = Utc::now();
        let expires_at = now + self.access_ttl;
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.to_string(),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session_id.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing).context("signing an access token")?;
        Ok((token, expires_at))
    }

    /// Verifies signature, algorithm, key id and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.verifying.get(&kid).ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }
}

/// Reads the generated signing key from the data directory, creating it (readable by the
/// owner only) on first use.
fn local_key(data_dir: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let path = data_dir.join("jwt-signing-key");
    let secret = match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()))?,
        Err(_) => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
            let mut secret = vec![0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            write_private(&path, &hex::encode(&secret))?;
            secret
        }
    };
    let kid = format!("local-{}", &hex::encode(Sha256::digest(&secret))[..8]);
    Ok((kid, secret))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn keys(kids: &[&str]) -> JwtKeys {
        let keys: Vec<_> = kids
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    format!("{k}-secret-0123456789-0123456789-abcdef").into_bytes(),
                )
            })
            .collect();
        JwtKeys::from_keys(&keys, Duration::minutes(15))
    }

    #[test]
    fn issued_tokens_verify() -> anyhow::Result<()> {
        let keys = keys(&["k1"]);
        let (token, _) = keys.issue(7, "USER", "family")?;
        let claims = keys.verify(&token).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str(), claims.sid.as_str()),
            ("7", "USER", "family")
        );
        Ok(())
    }

    #[test]
    fn rotated_keys_keep_old_tokens_valid_until_removed() -> anyhow::Result<()> {
        let old = keys(&["k1"]);
        let (token, _) = old.issue(1, "USER", "s")?;
        assert!(keys(&["k2", "k1"]).verify(&token).is_ok());
        assert_eq!(keys(&["k2"]).verify(&token), Err(TokenError::UnknownKey));
        Ok(())
    }

    #[test]
    fn forged_tokens_are_refused() -> anyhow::Result<()> {
        let keys = keys(&["k1"]);
        let (token, _) = keys.issue(1, "USER", "s")?;
        let parts: Vec<&str> = token.split('.').collect();
        // Payload changed to ADMIN, signature kept.
        let payload = URL_SAFE_NO_PAD.decode(parts[1])?;
        let forged_payload = String::from_utf8(payload)?.replace("USER", "ADMIN");
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(forged_payload), parts[2]);
        assert_eq!(keys.verify(&forged), Err(TokenError::Invalid));
        // alg: none with no signature.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#),
            parts[1]
        );
        assert!(keys.verify(&none).is_err());
        // Another algorithm.
        let hs512 = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","kid":"k1"}"#),
            parts[1],
            parts[2]
        );
        assert!(keys.verify(&hs512).is_err());
        assert_eq!(keys.verify("not a token"), Err(TokenError::Malformed));
        Ok(())
    }

    #[test]
    fn expired_tokens_are_refused() -> anyhow::Result<()> {
        let keys = JwtKeys::from_keys(&[("k".into(), vec![7u8; 32])], Duration::seconds(-60));
        let (token, _) = keys.issue(1, "USER", "s")?;
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
        Ok(())
    }

    #[test]
    fn the_local_key_is_created_once_and_reused() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("curtain-jwt-{}", uuid::Uuid::new_v4()));
        let first = local_key(&dir)?;
        let second = local_key(&dir)?;
        assert_eq!(first, second);
        std::fs::remove_dir_all(&dir).ok();
        Ok(())
    }
}
