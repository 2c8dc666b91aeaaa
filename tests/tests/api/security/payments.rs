//! Security: payments.
