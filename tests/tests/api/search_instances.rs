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

/// Outbox ids are handed out at insert, not at commit: a transaction can commit its catalog
/// event after a later-numbered one has moved the index's position past it. With the bus
/// having dropped it (as Redis pub/sub does while reconnecting: here the row is written as
/// already published, so only the outbox itself can bring it), the index must still apply
/// it. PostgreSQL only: SQLite has one writer at a time, so its ids commit in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_event_committed_after_a_later_numbered_one_still_reaches_the_index() {
    use entity::{outbox, performance};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

    let Some(app) = TestApp::spawn(curtain_tests::Backend::Postgres).await else {
        return;
    };
    let venue = fixtures::create_venue(&app, "순서홀", small_layout(2)).await;
    let early = fixtures::create_performance(&app, &venue, "먼저 번호 받은 공연", &day(1).0, &day(9).0).await;
    let late = fixtures::create_performance(&app, &venue, "나중 번호 받은 공연", &day(1).0, &day(9).0).await;
    let early_id = fixtures::database_id(&early);

    // The first transaction takes its outbox id and stays open.
    let first = app.db.begin().await.expect("begin");
    performance::Entity::update_many()
        .col_expr(performance::Column::Title, Expr::value("늦게 커밋된 제목"))
        .filter(performance::Column::Id.eq(early_id))
        .exec(&first)
        .await
        .expect("rename");
    let event = outbox::ActiveModel {
        topic: Set("catalog".into()),
        aggregate_id: Set(early_id),
        version: Set(None),
        payload: Set(json!({ "object": "performance", "id": early_id }).to_string()),
        created_at: Set(chrono::Utc::now()),
        published_at: Set(Some(chrono::Utc::now())),
        ..Default::default()
    }
    .insert(&first)
    .await
    .expect("the first transaction's event");

    // A second one commits a later-numbered event, and the index moves past both ids.
    let renamed = app
        .admin(
            "mutation($id: ID!) { updatePerformance(id: $id, input: { title: \"앞질러 커밋된 제목\" }) { id } }",
            json!({ "id": late }),
        )
        .await;
    data(&renamed);
    let found = eventually(&app, "앞질러", |h| !h.is_empty()).await;
    assert_eq!(found, vec!["Performance:앞질러 커밋된 제목"]);
    // The position moves just after the index commit that made the hit searchable.
    let started = Instant::now();
    while app.state.search.position() <= event.id && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.state.search.position() > event.id,
        "the index's position is past the open transaction's event"
    );

    first.commit().await.expect("commit");
    let found = eventually(&app, "늦게 커밋된", |h| !h.is_empty()).await;
    assert_eq!(
        found,
        vec!["Performance:늦게 커밋된 제목"],
        "the event committed out of order was applied"
    );
    app.stop().await;
}
