//! The sale-day hardening suite: each finding of the abuse review has a test here that failed
//! before its fix. Everything goes through the public API, as an attacker would.

mod bots;
mod cost;
mod fuzz;
mod http;
mod payments;
mod smaller;
mod sockets;
