//! Password hashing (Argon2id with a per-password salt) and the password policy.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthSettings;
use crate::error::{ApiError, ApiResult};

/// Passwords so common that attackers try them first (a short list; length rules catch the rest).
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "123456789",
    "1234567890",
    "12345678910",
    "0123456789",
    "987654321",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1q2w3e4r!",
    "qwerty123",
    "qwertyuiop",
    "qwerty1234",
    "asdfghjkl",
    "asdf1234",
    "zxcvbnm123",
    "iloveyou",
    "iloveyou1",
    "sunshine1",
    "princess1",
    "football1",
    "baseball1",
    "welcome1",
    "welcome123",
    "admin1234",
    "administrator",
    "letmein123",
    "trustno1",
    "dragon123",
    "monkey123",
    "superman1",
    "abcd1234",
    "abc123456",
    "a1b2c3d4",
    "aa123456",
    "qwer1234",
    "q1w2e3r4",
    "1qaz2wsx",
    "zaq12wsx",
    "11111111",
    "00000000",
    "12341234",
    "88888888",
    "66666666",
    "changeme",
    "changeme1",
    "computer1",
    "internet1",
    "starwars1",
    "whatever1",
    "ticket123",
    "curtain123",
    "sarang123",
    "saranghae",
    "dkssud123",
    "gksrmf123",
    "korea1234",
];

fn hasher(settings: &AuthSettings) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(settings.argon2_memory_kib, settings.argon2_iterations, 1, None)
        .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes on a blocking thread: Argon2 is deliberately slow and must not stall the runtime.
pub async fn hash(password: &str, settings: &AuthSettings) -> ApiResult<String> {
    let argon = hasher(settings).map_err(ApiError::internal)?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(anyhow::anyhow!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash (whose own parameters are used).
pub async fn verify(password: &str, stored: &str) -> bool {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A password that failed anyway takes as long as a real check, so timing does not tell
/// whether an account exists.
pub async fn verify_against_nothing(password: &str, settings: &AuthSettings) {
    let _ = hash(password, settings).await;
}

/// Length bounds and the common-password list; the email is not a password either.
pub fn check_policy(password: &str, email: Option<&str>, settings: &AuthSettings) -> ApiResult<()> {
    let length = password.chars().count();
    let min = settings.password_min_length;
    if length < min {
        return Err(ApiError::bad_input(
            "password",
            format!("the password must have at least {min} characters"),
        ));
    }
    if length > 256 {
        return Err(ApiError::bad_input(
            "password",
            "the password must have at most 256 characters",
        ));
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lowered.as_str()) || email.is_some_and(|e| lowered == e.to_lowercase()) {
        return Err(ApiError::bad_input(
            "password",
            "this password is too easy to guess; choose another",
        ));
    }
    if password.chars().all(|c| c == password.chars().next().unwrap_or(' ')) {
        return Err(ApiError::bad_input(
            "password",
            "the password must not repeat one character",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> AuthSettings {
        AuthSettings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            ..AuthSettings::default()
        }
    }

    #[tokio::test]
    async fn hashes_verify_and_are_salted() -> ApiResult<()> {
        let settings = fast();
        let a = hash("correct horse battery", &settings).await?;
        let b = hash("correct horse battery", &settings).await?;
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &a).await);
        assert!(!verify("wrong horse battery", &a).await);
        assert!(!verify("anything", "not a hash").await);
        Ok(())
    }

    #[test]
    fn weak_passwords_are_refused() {
        let settings = AuthSettings::default();
        assert!(check_policy("short", None, &settings).is_err());
        assert!(check_policy("Password123", None, &settings).is_err());
        assert!(check_policy("aaaaaaaaaaaa", None, &settings).is_err());
        assert!(check_policy("me@example.com", Some("me@example.com"), &settings).is_err());
        assert!(check_policy("correct horse battery", None, &settings).is_ok());
    }
}
