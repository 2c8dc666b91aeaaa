//! Refuses text containing NUL (U+0000) before any resolver runs. PostgreSQL cannot store
//! it: a NUL in any argument that reached a query failed there with `invalid byte sequence`
//! and came back as INTERNAL_SERVER_ERROR (found by fuzzing). No field has a use for it, so
//! it is refused on every backend alike, as BAD_USER_INPUT.

use async_graphql::{ErrorExtensionValues, Request, ServerError, Value};

/// The error to refuse `request` with, when its document or variables contain NUL.
pub fn check(request: &Request) -> Option<ServerError> {
    if document_has_nul(&request.query) || request.variables.values().any(value_has_nul) {
        let mut error = ServerError::new("text must not contain the NUL character (U+0000)", None);
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", "BAD_USER_INPUT");
        return Some(error);
    }
    None
}

/// A NUL in the document, raw or as the only escape that writes one (`\u0000`, any case).
fn document_has_nul(query: &str) -> bool {
    query.contains('\0') || query.to_ascii_lowercase().contains("\\u0000")
}

fn value_has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::List(items) => items.iter().any(value_has_nul),
        Value::Object(fields) => fields.iter().any(|(name, v)| name.contains('\0') || value_has_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_raw_escaped_and_nested() {
        assert!(document_has_nul("{ a(x: \"\\u0000\") }"));
        assert!(document_has_nul("{ a(x: \"\\U0000\") }"));
        assert!(document_has_nul("{ a(x: \"\0\") }"));
        assert!(!document_has_nul("{ a(x: \"\\u0041\") }"));
        let nested = Value::from_json(serde_json::json!({ "a": [1, { "b": "x\u{0}" }] })).expect("a value");
        assert!(value_has_nul(&nested));
        assert!(!value_has_nul(&Value::from("plain")));
    }
}
