//! Adapters to the world outside the process: short-lived shared state (in-process or
//! Redis) and the Kakao OAuth provider.

pub mod kakao;
pub mod kv;
