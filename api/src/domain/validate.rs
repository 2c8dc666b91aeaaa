//! Small input checks shared by the domain modules; each returns BAD_USER_INPUT naming the field.

use crate::error::{ApiError, ApiResult};

/// Trims `value` and checks it is non-empty and at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_input(field, format!("{field} must not be empty")));
    }
    // PostgreSQL cannot store NUL in text, and no field of ours wants control characters
    // other than line breaks and tabs; refusing them here keeps both databases alike.
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::bad_input(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Like [`required_text`], but an empty value means "none".
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => required_text(field, text, max).map(Some),
    }
}

/// Checks `value` lies in `min..=max`.
pub fn in_range(field: &str, value: i64, min: i64, max: i64) -> ApiResult<i32> {
    if value < min || value > max {
        return Err(ApiError::bad_input(
            field,
            format!("{field} must be between {min} and {max}"),
        ));
    }
    i32::try_from(value).map_err(|_| ApiError::bad_input(field, format!("{field} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(required_text("title", "  Hamlet ", 10).ok(), Some("Hamlet".into()));
        assert!(required_text("title", "   ", 10).is_err());
        assert!(required_text("title", "가나다라마바사아자차카", 10).is_err());
        assert_eq!(optional_text("bio", Some(" "), 10).ok(), Some(None));
        assert!(required_text("title", "Ham\0let", 10).is_err());
        assert_eq!(required_text("body", "two\nlines", 10).ok(), Some("two\nlines".into()));
    }

    #[test]
    fn numbers_are_bounded() {
        assert_eq!(in_range("n", 5, 1, 10).ok(), Some(5));
        assert!(in_range("n", 0, 1, 10).is_err());
    }
}
