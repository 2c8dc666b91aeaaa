//! The one reading of a bearer token (`Authorization: Bearer …`), for GraphQL over HTTP,
//! the metrics token and a socket's `connection_init`, so that all three accept the same.
//!
//! The scheme is matched without regard to case (RFC 9110 §11.1) and the token is trimmed;
//! an empty token is no token.

use axum::http::{HeaderMap, header};

/// The token of an `Authorization` value of the Bearer scheme.
pub fn token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The bearer token of a request's `Authorization` header.
pub fn from_headers(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(token)
}

#[cfg(test)]
mod tests {
    use super::token;

    #[test]
    fn the_scheme_is_matched_in_any_case_and_the_token_trimmed() {
        assert_eq!(token("Bearer abc"), Some("abc"));
        assert_eq!(token("bearer abc"), Some("abc"));
        assert_eq!(token("BEARER  abc "), Some("abc"));
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Bearer"), None);
        assert_eq!(token("Basic abc"), None);
        assert_eq!(token("Bearerabc"), None);
        assert_eq!(token("abc"), None);
    }
}
