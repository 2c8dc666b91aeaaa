//! End-to-end tests over HTTP against a spawned server. One binary with a module per area
//! keeps link time down.

mod accounts;
mod bad_input;
mod catalog;
mod coupons;
mod dataloaders;
mod demo;
mod holds;
mod http;
mod kakao;
mod pagination;
mod payments;
mod schema;
mod seat_map_live;
mod ws;
