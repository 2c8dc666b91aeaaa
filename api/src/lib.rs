//! Curtain: ticketing for live performances, spoken to in GraphQL.
//!
//! The binary in `main.rs` only parses the command line and calls into this library;
//! [`startup::Application`] builds and runs the server, which tests spawn on port 0.

pub mod auth;
pub mod background;
pub mod catalog_cache;
pub mod cli;
pub mod config;
pub mod constraints;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod infra;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod search;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
