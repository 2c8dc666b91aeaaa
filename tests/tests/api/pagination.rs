//! Relay pagination walks long lists without duplicates or gaps, even with ties in the sort
//! key, and never by OFFSET.

use std::collections::HashSet;

use curtain_tests::fixtures::{create_cast_member, create_venue, day, small_layout};
use curtain_tests::{TestApp, backend_tests, data};
use serde_json::json;

backend_tests!(
    walking_250_performances_with_tied_dates_sees_each_exactly_once,
    walking_cast_members_by_name_sees_each_exactly_once
);

async fn walking_250_performances_with_tied_dates_sees_each_exactly_once(app: &TestApp) {
    let venue = create_venue(app, "Paging hall", small_layout(1)).await;
    let (end, _) = day(60);
    let mut created = Vec::new();
    for i in 0..250 {
        // Only five distinct start dates: the id must break the ties.
        let (start, _) = day(i % 5);
        let response = app
            .admin(
                "mutation($input: CreatePerformanceInput!) { createPerformance(input: $input) { id } }",
                json!({ "input": { "title": format!("공연 {i}"), "genre": "CONCERT", "runningMinutes": 90,
                    "startDate": start, "endDate": end, "venueId": venue } }),
            )
            .await;
        created.push(
            data(&response)["createPerformance"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let response = app
            .gql(
                "query($after: String) { performances(first: 17, after: $after) {
                    edges { cursor node { id startDate } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let connection = &data(&response)["performances"];
        let edges = connection["edges"].as_array().expect("edges");
        for edge in edges {
            seen.push((
                edge["node"]["startDate"].as_str().unwrap_or_default().to_string(),
                edge["node"]["id"].as_str().unwrap_or_default().to_string(),
            ));
        }
        pages += 1;
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].as_str().map(String::from);
        assert!(pages < 100, "pagination does not end");
    }
    assert_eq!(pages, 15);
    assert_eq!(seen.len(), 250);
    let unique: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(unique.len(), 250, "no duplicates");
    assert_eq!(unique, created.into_iter().collect::<HashSet<_>>(), "no gaps");
    let dates: Vec<_> = seen.iter().map(|(d, _)| d.clone()).collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted, "ordered by start date");
}

async fn walking_cast_members_by_name_sees_each_exactly_once(app: &TestApp) {
    for i in 0..60 {
        // Duplicate names on purpose.
        create_cast_member(app, &format!("배우 {}", i % 20)).await;
    }
    let mut ids = HashSet::new();
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = app
            .gql(
                "query($after: String) { castMembers(first: 7, after: $after) { edges { node { id name } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let connection = &data(&response)["castMembers"];
        for edge in connection["edges"].as_array().expect("edges") {
            assert!(
                ids.insert(edge["node"]["id"].as_str().unwrap_or_default().to_string()),
                "duplicate"
            );
            names.push(edge["node"]["name"].as_str().unwrap_or_default().to_string());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].as_str().map(String::from);
    }
    assert_eq!(ids.len(), 60);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}
