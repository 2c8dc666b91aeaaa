//! How long the GraphQL cost check takes on the worst documents the default size limits
//! admit (printed by `curtain-bench abuse`). The check must stay within a millisecond:
//! it runs on every request before anything else, for anyone.

use std::time::{Duration, Instant};

use async_graphql::Variables;
use async_graphql::parser::parse_query;
use curtain::config::GraphqlSettings;
use curtain::graphql::cost::{CostModel, scan};

/// Runs per document; the median is reported.
const RUNS: usize = 31;

/// The median time of the whole check (text, then parsed document) on each worst-case
/// document, named by what makes it bad. Parsing is not included: async-graphql parses
/// every document anyway, and the check hands its parse on so it happens once.
pub fn worst_case_check_times() -> Vec<(String, Duration)> {
    let settings = GraphqlSettings::default();
    let model = curtain::graphql::cost_model(&settings);
    worst_documents(&settings)
        .into_iter()
        .map(|(name, query)| {
            let time = median_check_time(&model, &query);
            (
                format!("{name} ({} bytes, {} tokens)", query.len(), scan(&query).tokens),
                time,
            )
        })
        .collect()
}

fn median_check_time(model: &CostModel, query: &str) -> Duration {
    let variables = Variables::from_json(serde_json::json!({ "n": 100 }));
    let doc = parse_query(query).ok();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            if model.check_text(query).is_ok()
                && let Some(doc) = &doc
            {
                let _ = std::hint::black_box(model.check_document(doc, &variables));
            }
            started.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

/// Fills `head … tail` with `item(i)` for i = 0, 1, … while the whole stays within the
/// default byte and token limits.
fn fill(settings: &GraphqlSettings, head: &str, item: impl Fn(usize) -> String, tail: &str) -> String {
    let (bytes, tokens) = (settings.document_bytes_limit, settings.token_limit as u64);
    let tail_tokens = scan(tail).tokens;
    let mut doc = head.to_string();
    let mut doc_tokens = scan(head).tokens;
    for i in 0.. {
        let next = item(i);
        let next_tokens = scan(&next).tokens;
        if doc.len() + next.len() + tail.len() > bytes || doc_tokens + next_tokens + tail_tokens > tokens {
            break;
        }
        doc.push_str(&next);
        doc_tokens += next_tokens;
    }
    doc.push_str(tail);
    doc
}

/// The documents, each as large as the limits let it be.
pub fn worst_documents(settings: &GraphqlSettings) -> Vec<(&'static str, String)> {
    // 30 levels (just under the nesting limit), each spreading the one before as many times
    // as the tokens allow: about 130^30 fields once expanded.
    let width = (settings.token_limit - 30 * 8) / 30 / 2;
    let mut bomb = String::from("{ ...F30 }\nfragment F0 on QueryRoot { __typename }\n");
    for i in 1..=30 {
        let spreads = format!(" ...F{}", i - 1).repeat(width);
        bomb.push_str(&format!("fragment F{i} on QueryRoot {{{spreads} }}\n"));
    }

    let nested_fields = format!(
        "{}{}",
        "{ performance(id: 1) ".repeat(62),
        "{ id".to_string() + &" }".repeat(63)
    );
    vec![
        ("fragment bomb, 30 levels wide as the tokens allow", bomb),
        (
            "alias flood",
            fill(settings, "{", |i| format!(" a{i}: __typename"), " }"),
        ),
        (
            "seat map alias flood",
            fill(
                settings,
                "query($s: ID!) {",
                |i| format!(" m{i}: seatMap(sessionId: $s) {{ version }}"),
                " }",
            ),
        ),
        ("fields nested to the bracket limit", nested_fields),
        (
            "inline fragments nested to the bracket limit",
            format!(
                "{{ {}__typename{} }}",
                "... on QueryRoot { ".repeat(62),
                " }".repeat(62)
            ),
        ),
        (
            "one small fragment spread as often as the tokens allow",
            fill(
                settings,
                "query($n: Int) { performances(first: $n) { nodes {",
                |_| " ...P".to_string(),
                " } } } fragment P on Performance { title }",
            ),
        ),
        ("many distinct fragments, all spread", many_fragments(settings)),
        (
            "many operations",
            fill(settings, "", |i| format!("query Q{i} {{ __typename }}\n"), ""),
        ),
        (
            "many connection fields with variable pages",
            fill(
                settings,
                "query($n: Int) {",
                |i| format!(" v{i}: venues(first: $n) {{ nodes {{ name }} }}"),
                " }",
            ),
        ),
        (
            "one long string",
            format!(
                "{{ search(query: \"{}\") {{ nodes {{ __typename }} }} }}",
                "가".repeat((settings.document_bytes_limit - 60) / 3)
            ),
        ),
    ]
}

/// Fragments `Fi` on Performance, each selecting a few fields, all spread in one query: as
/// many as the limits allow.
fn many_fragments(settings: &GraphqlSettings) -> String {
    let doc = |count: usize| {
        let spreads: String = (0..count).map(|i| format!(" ...F{i}")).collect();
        let fragments: String = (0..count)
            .map(|i| format!("fragment F{i} on Performance {{ title venue {{ name }} }}\n"))
            .collect();
        format!("query($n: Int) {{ performances(first: $n) {{ nodes {{{spreads} }} }} }}\n{fragments}")
    };
    let fits =
        |query: &str| query.len() <= settings.document_bytes_limit && scan(query).tokens <= settings.token_limit as u64;
    let count = (1..).take_while(|&count| fits(&doc(count))).last().unwrap_or(0);
    doc(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_worst_document_is_admitted_by_the_size_limits() {
        let settings = GraphqlSettings::default();
        let model = curtain::graphql::cost_model(&settings);
        for (name, query) in worst_documents(&settings) {
            assert!(
                model.check_text(&query).is_ok(),
                "{name}: {:?}",
                model.check_text(&query)
            );
            assert!(parse_query(&query).is_ok(), "{name} parses");
        }
    }
}
