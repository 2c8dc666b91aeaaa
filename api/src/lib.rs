//! Curtain: ticketing for live performances, spoken to in GraphQL.
//!
//! The binary in `main.rs` only parses the command line and calls into this library;
//! [`startup::Application`] builds and runs the server, which tests spawn on port 0.
//!
//! # Layers
//!
//! Requests come in at the top and go down; a module uses only the layers below its own,
//! never one beside or above it (`api/tests/layers.rs` reads every `crate::` path and fails
//! on one that points up or sideways). Highest first:
//!
//! ```text
//! startup, cli, telemetry — the entry points: build the state, start the server and workers
//! background, demo — the workers every instance runs; the demo catalog loader
//! http — axum: the GraphQL endpoint, WebSockets, web pages, uploads, webhooks, health
//! graphql — the schema: resolvers (thin), loaders, the request pipeline, errors as GraphQL
//! state — AppState: every shared handle, built once by startup
//! search — the keyword index, kept in step with the catalog through the outbox
//! jobs — scheduled and manual jobs (dormancy, purges, reminders, orphaned files)
//! auth — tokens, passwords, limits and the log-in flows (over `auth::AuthDeps`)
//! live, catalog_cache — this instance's live hubs (seat maps, notifications, sockets); hot rows
//! domain — business rules as functions over a database connection; notifications (notify)
//! outbox, storage — events recorded with the change and relayed to the bus; files and S3
//! infra — the bus (which owns its `Event`), shared stores, payments, Kakao, replicas
//! db — connecting and migrating; write transactions
//! constraints, ids — what a broken constraint tells a client; global object IDs
//! error, metrics — ApiError and its codes; counters and histograms
//! config — settings, read from files and the environment
//! ```

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
pub mod ids;
pub mod infra;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod outbox;
pub mod search;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
