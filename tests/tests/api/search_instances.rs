//! Two instances on one PostgreSQL database and one Redis: each keeps its own search index
//! in step with writes made through the other, and their shared caches stay correct.

use std::time::{Duration, Instant};

use curtain_tests::fixtures::{self, day, small_layout};
use curtain_tests::{TestApp, data};
use serde_json::json;

use crate::search::{eventually, hits, search};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_write_on_one_instance_reaches_search_and_cache_on_another() {
    let Some((a, b)) = TestApp::pair_with_redis().await else {
        return;
    };

    let venue = fixtures::create_venue(&a, "쌍둥이홀", small_layout(2)).await;
    let performance = fixtures::create_performance(&a, &venue, "두 도시 이야기", &day(1).0, &day(9).0).await;
    let found = eventually(&b, "도시 이야기", |h| !h.is_empty()).await;
    assert_eq!(
        found,
        vec!["Performance:두 도시 이야기"],
        "instance B indexed A's write"
    );

    // B caches the detail and a search in the shared Redis cache; A's write must not leave
    // B serving either stale.
    assert_eq!(fixtures::performance_title(&b, &performance).await, "두 도시 이야기");
    assert_eq!(fixtures::performance_title(&b, &performance).await, "두 도시 이야기");
    hits(&search(&b, "이야기").await);
    let renamed = a
        .admin(
            "mutation($id: ID!) { updatePerformance(id: $id, input: { title: \"세 도시 이야기\" }) { id } }",
            json!({ "id": performance }),
        )
        .await;
    data(&renamed);
    let started = Instant::now();
    while fixtures::performance_title(&b, &performance).await != "세 도시 이야기" {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "B's cached detail was invalidated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let found = eventually(&b, "이야기", |h| h == ["Performance:세 도시 이야기"]).await;
    assert_eq!(found, vec!["Performance:세 도시 이야기"], "B's index and cache follow");
    b.stop().await;
    a.stop().await;
}
