//! Curtain's embedded keyword search over performances, cast and venues (tantivy).
//!
//! This crate will own the index schema, the Korean-aware tokenizers (n-grams and initial
//! consonants), the writer and the query builder, and will take plain documents so that it
//! knows nothing of the api crate. It is empty until the search work lands; the workspace
//! keeps its place so that the crate layout is settled from the start.
