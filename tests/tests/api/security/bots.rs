//! Security: bots.
