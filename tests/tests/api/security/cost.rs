//! Security: cost.
