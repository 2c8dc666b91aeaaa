//! Adapters to the world outside the process: the event bus and short-lived shared state
//! (in-process or Redis), and the Kakao OAuth provider.

pub mod bus;
pub mod kakao;
pub mod kv;
