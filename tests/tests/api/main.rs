//! End-to-end tests over HTTP against a spawned server. One binary with a module per area
//! keeps link time down.

mod bad_input;
mod catalog;
mod dataloaders;
mod demo;
mod http;
mod pagination;
mod schema;
