//! Security: smaller.
