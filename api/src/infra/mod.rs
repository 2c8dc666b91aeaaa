//! Adapters to the world outside the process: the event bus and short-lived shared state
//! (in-process or Redis), the Kakao OAuth provider, payment providers, and the read replicas.

pub mod bus;
pub mod kakao;
pub mod kv;
pub mod payments;
pub mod replicas;
