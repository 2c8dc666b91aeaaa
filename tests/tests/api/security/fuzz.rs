//! Security: fuzz.
