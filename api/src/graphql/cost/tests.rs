//! The measuring itself, on the real schema's shape.

use std::time::{Duration, Instant};

use async_graphql::Variables;
use async_graphql::parser::parse_query;
use serde_json::json;

use super::*;
use crate::config::GraphqlSettings;

fn model() -> CostModel {
    crate::graphql::cost_model(&GraphqlSettings::default())
}

fn measure_with(query: &str, variables: serde_json::Value) -> Result<Measures, Refusal> {
    let doc = parse_query(query).expect("the test document parses");
    model().check_document(&doc, &Variables::from_json(variables))
}

fn measure(query: &str) -> Result<Measures, Refusal> {
    measure_with(query, json!({}))
}

fn refused(query: &str) -> Refusal {
    measure(query).expect_err("refused")
}

/// `depth` fragments, each spreading the one before `width` times.
fn fragment_bomb(depth: usize, width: usize) -> String {
    let mut doc = format!("query {{ ...F{depth} }}\nfragment F0 on QueryRoot {{ __typename }}\n");
    for i in 1..=depth {
        let spreads = format!(" ...F{}", i - 1).repeat(width);
        doc.push_str(&format!("fragment F{i} on QueryRoot {{{spreads} }}\n"));
    }
    doc
}

#[test]
fn the_schema_shape_knows_roots_lists_and_connections() {
    let shape = crate::graphql::schema_shape();
    assert_eq!(shape.query.as_deref(), Some("QueryRoot"));
    assert_eq!(shape.subscription.as_deref(), Some("SubscriptionRoot"));
    assert!(shape.types["PerformanceConnection"].connection);
    assert!(!shape.types["Performance"].connection);
    let seats = &shape.types["SeatMap"].fields["seats"];
    assert!(seats.list);
    assert_eq!(seats.ty, "Seat");
    assert!(shape.types["__Type"].fields["fields"].list);
}

#[test]
fn connections_multiply_by_the_page_asked_for() {
    let query = "query($n: Int) { performances(first: $n) { edges { node { id title } } pageInfo { hasNextPage } } }";
    // performances 1 + edges 1 + pageInfo 2 + n × (node 1 + id 1 + title 1)
    let cost = |vars| measure_with(query, vars).expect("allowed").complexity;
    assert_eq!(cost(json!({ "n": 3 })), 4 + 3 * 3);
    assert_eq!(cost(json!({ "n": 10 })), 4 + 10 * 3);
    assert_eq!(cost(json!({})), 4 + 20 * 3, "the default page size");
    assert_eq!(cost(json!({ "n": null })), 4 + 20 * 3, "null is the default page size");
    let literal = measure("{ performances(first: 5) { nodes { id } } }").expect("allowed");
    assert_eq!(literal.complexity, 2 + 5);
    let defaulted = measure("query($n: Int = 7) { performances(first: $n) { nodes { id } } }").expect("allowed");
    assert_eq!(defaulted.complexity, 2 + 7);
    let zero = measure("{ performances(first: 0) { nodes { id } } }").expect("allowed");
    assert_eq!(
        zero.complexity,
        2 + 1,
        "an empty page still counts what it selects once"
    );
}

#[test]
fn nested_connections_multiply_through_each_other() {
    let shape = |n: u32| {
        format!(
            "{{ performances(first: {n}) {{ edges {{ node {{ reviews(first: {n}) {{ edges {{ node {{ \
             performance {{ reviews(first: {n}) {{ edges {{ node {{ id }} }} }} }} }} }} }} }} }} }} }}"
        )
    };
    assert!(measure(&shape(2)).is_ok());
    let refusal = measure(&shape(100)).expect_err("a million reviews");
    assert_eq!(refusal.code, QUERY_TOO_COMPLEX);
    assert_eq!(refusal.measure, Some("complexity"));
    assert!(refusal.value > 1_000_000, "{refusal:?}");
}

#[test]
fn lists_multiply_by_their_estimate_and_seats_by_the_seat_estimate() {
    let cast = measure(r#"{ performance(id: "x") { cast { role } } }"#).expect("allowed");
    assert_eq!(cast.complexity, 1 + 1 + 20);
    let seats = measure(r#"{ seatMap(sessionId: "x") { version seats { id status } } }"#).expect("allowed");
    // The map is read whole (20,000 seats) and 20,000 seats of 2 fields are returned.
    assert_eq!(seats.complexity, 20_001 + 1 + 1 + 20_000 * 2);
    let version_only = measure(r#"{ seatMap(sessionId: "x") { version } }"#).expect("allowed");
    assert_eq!(
        version_only.complexity,
        20_001 + 1,
        "reading the map costs even unselected"
    );
}

#[test]
fn a_seat_map_alias_flood_is_refused() {
    let mut query = String::from("{");
    for i in 0..1_200 {
        query.push_str(&format!(" m{i}: seatMap(sessionId: \"x\") {{ version }}"));
    }
    query.push('}');
    let refusal = refused(&query);
    assert_eq!(refusal.code, QUERY_TOO_COMPLEX);
    assert_eq!(refusal.measure, Some("aliases"));
    let few: String = (0..13)
        .map(|i| format!(" m{i}: seatMap(sessionId: \"x\") {{ version }}"))
        .collect();
    assert_eq!(refused(&format!("{{{few} }}")).measure, Some("complexity"));
}

#[test]
fn a_fragment_bomb_is_measured_in_linear_time() {
    // 2^24 expansions, and 8^30 (which saturates the arithmetic).
    for (depth, width) in [(24, 2), (30, 8)] {
        let started = Instant::now();
        let refusal = refused(&fragment_bomb(depth, width));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(refusal.code, QUERY_TOO_COMPLEX);
        assert_eq!(refusal.measure, Some("fragmentSpreads"));
        assert!(refusal.value >= 1 << 24, "{refusal:?}");
    }
    assert!(measure(&fragment_bomb(3, 2)).is_ok(), "a small one is harmless");
}

#[test]
fn fragment_cycles_are_a_validation_error() {
    let refusal = refused("{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }");
    assert_eq!(refusal.code, GRAPHQL_VALIDATION_FAILED);
    assert!(refusal.message.contains("Cannot spread fragment"), "{refusal:?}");
    let own = refused("{ ...A } fragment A on QueryRoot { me { id } ...A }");
    assert_eq!(own.code, GRAPHQL_VALIDATION_FAILED);
    // An unknown fragment is left to validation.
    assert!(measure("{ ...Missing }").is_ok());
}

#[test]
fn depth_counts_through_fragments_but_not_introspection() {
    let query = "{ ...A } fragment A on QueryRoot { performance(id: \"x\") { ...B } } \
                 fragment B on Performance { venue { name } }";
    assert_eq!(measure(query).expect("allowed").depth, 3);
    let deep = "{ performances { edges { node { cast { castMember { roles { performance { cast { castMember \
                { roles { performance { venue { name } } } } } } } } } } } } }";
    let refusal = refused(deep);
    assert_eq!(
        (refusal.code, refusal.measure, refusal.value),
        (QUERY_TOO_DEEP, Some("depth"), 13)
    );
    let introspection = measure(INTROSPECTION).expect("GraphiQL's introspection query is allowed");
    assert!(introspection.depth <= 1, "{introspection:?}");
    assert!(
        introspection.complexity < 125_000,
        "with room to spare: {introspection:?}"
    );
}

#[test]
fn self_nesting_introspection_multiplies_like_any_list() {
    let level = |inner: &str| format!("fields {{ type {{ {inner} }} }}");
    let mut selection = "name".to_string();
    for _ in 0..6 {
        selection = level(&selection);
    }
    let refusal = refused(&format!("{{ __schema {{ types {{ {selection} }} }} }}"));
    assert_eq!(refusal.measure, Some("complexity"));
}

#[test]
fn nesting_is_refused_before_the_walk_recurses_far() {
    let inline = "... on QueryRoot {".repeat(40) + " __typename " + &"}".repeat(40);
    let refusal = refused(&format!("{{ {inline} }}"));
    assert_eq!((refusal.code, refusal.measure), (QUERY_TOO_DEEP, Some("nesting")));
    let chain: String = (0..40)
        .map(|i| format!("fragment F{i} on QueryRoot {{ ...F{} }}\n", i + 1))
        .collect();
    let doc = format!("{{ ...F0 }}\n{chain}fragment F40 on QueryRoot {{ __typename }}");
    assert_eq!(refused(&doc).measure, Some("nesting"));
}

#[test]
fn aliases_and_root_fields_count_through_fragments() {
    let doc = "{ ...A ...A } fragment A on QueryRoot { a: me { id } b: me { id } }";
    let measures = measure(doc).expect("allowed");
    assert_eq!(
        (measures.aliases, measures.root_fields, measures.fragment_spreads),
        (4, 4, 2)
    );
    let many: String = (0..40).map(|i| format!(" f{i}: __typename")).collect();
    assert_eq!(refused(&format!("{{{many} }}")).measure, Some("rootFields"));
}

#[test]
fn long_and_dense_documents_are_refused_before_parsing() {
    let long = format!("{{ __typename }} # {}", "x".repeat(20_000));
    let refusal = model().check_text(&long).expect_err("too long");
    assert_eq!((refusal.code, refusal.measure), (QUERY_TOO_COMPLEX, Some("bytes")));
    let dense = format!("{{{}}}", " a".repeat(5_000));
    let refusal = model().check_text(&dense).expect_err("too many tokens");
    assert_eq!((refusal.measure, refusal.value), (Some("tokens"), 5_002));
    let brackets = "[".repeat(100);
    assert_eq!(
        model().check_text(&brackets).expect_err("deep").measure,
        Some("nesting")
    );
}

#[test]
fn the_readme_queries_are_allowed() {
    let catalog = "{ performances(first: 5, filter: { genre: MUSICAL }) { edges { node { \
        title englishTitle startDate endDate venue { name region } cast { role castMember { name } } \
        sessions { id startsAt saleState availableSeatCount totalSeatCount } priceTiers { grade price } \
        } } pageInfo { hasNextPage endCursor } } }";
    measure(catalog).expect("the catalog query");
    let seat_map = r#"{ seatMap(sessionId: "x") { version availableCount seats { id section row number grade price status x y } } }"#;
    measure(seat_map).expect("the seat map query");
    let live = "subscription($s: ID!, $after: Int) { seatMapUpdates(sessionId: $s, afterVersion: $after) { \
        __typename ... on SeatMapSnapshot { version availableCount seats { id status } } \
        ... on SeatMapDelta { version availableCount changes { seatId status } } } }";
    measure(live).expect("the live seat map");
}

#[test]
fn refusals_carry_the_measure_and_the_limit() {
    let err = Refusal::over("aliases", 1_200, 64).into_server_error();
    let ext = err.extensions.expect("extensions");
    assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("QUERY_TOO_COMPLEX")));
    assert_eq!(ext.get("measure"), Some(&async_graphql::Value::from("aliases")));
    assert_eq!(ext.get("cost"), Some(&async_graphql::Value::from(1_200)));
    assert_eq!(ext.get("limit"), Some(&async_graphql::Value::from(64)));
}

/// The shape of GraphiQL's schema query (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = "
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}";
