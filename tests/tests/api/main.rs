//! End-to-end tests over HTTP against a spawned server. One binary with a module per area
//! keeps link time down.

mod accounts;
mod bad_input;
mod catalog;
mod catalog_cache;
mod clients;
mod coupons;
mod dataloaders;
mod demo;
mod fanout;
mod hold_batches;
mod holds;
mod http;
mod jobs;
mod kakao;
mod migrations;
mod notifications;
mod orphan_files;
mod pagination;
mod payments;
mod persisted_queries;
mod posters;
mod posters_s3;
mod replicas;
mod reviews;
mod schema;
mod search;
mod search_files;
mod search_instances;
mod search_matching;
mod seat_map_live;
mod security;
mod tickets;
mod waiting_room;
mod waitlist;
mod ws;
