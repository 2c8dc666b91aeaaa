//! Email addresses, normalised in one place: trimmed and lower-cased, as accounts store them.

use crate::error::{ApiError, ApiResult};

/// An email address as accounts store it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// An address to be stored (a sign-up, a new admin, a ticket's recipient): normalised,
    /// and refused unless it has the shape of one.
    pub fn parse(text: &str) -> ApiResult<Self> {
        let email = Self::lookup(text);
        let valid = email.0.len() <= 320
            && email.0.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.0.chars().any(char::is_whitespace)
            });
        if !valid {
            return Err(ApiError::bad_input(
                "email",
                "enter an email address like name@example.com",
            ));
        }
        Ok(email)
    }

    /// An address to look an account up by (a log-in, a search): normalised only; one of the
    /// wrong shape simply finds nothing.
    pub fn lookup(text: &str) -> Self {
        Self(text.trim().to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Me@Example.COM ").ok(),
            Some(Email("me@example.com".into()))
        );
        for bad in [
            "",
            "no-at",
            "@example.com",
            "me@localhost",
            "me@.com",
            "me@example.",
            "m e@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Email::lookup(" No-At ").as_str(), "no-at", "a lookup only normalises");
    }
}
