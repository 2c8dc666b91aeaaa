//! Security: http.
