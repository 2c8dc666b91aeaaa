//! Writing, committing, reopening and type-ahead suggestions.

use crate::{CastDoc, Doc, Kind, SearchIndex};

use super::{C, P, V, docs, fixture, keys, search};

fn cast_doc(id: i64, name: &str) -> Doc {
    Doc::Cast(CastDoc {
        id,
        name: name.into(),
        english_name: None,
    })
}

#[test]
fn committed_documents_are_searchable_immediately_and_generation_moves() {
    let index = SearchIndex::in_memory().unwrap();
    let initial = index.generation();
    index.upsert([cast_doc(7, "홍광호")]).unwrap();
    assert!(search(&index, "홍광호").hits.is_empty(), "not visible before commit");
    let first = index.commit().unwrap();
    assert_eq!(index.generation(), first);
    assert!(first > initial);
    assert_eq!(keys(&search(&index, "홍광호")), vec![(C, 7)]);
    let second = index.commit().unwrap();
    assert!(second > first, "every commit changes the generation, even an empty one");
    assert_eq!(index.generation(), second);
}

#[test]
fn upsert_replaces_by_kind_and_id() {
    let index = fixture();
    index.upsert([cast_doc(1, "조승우2")]).unwrap();
    index.upsert([cast_doc(1, "홍광호")]).unwrap();
    index.commit().unwrap();
    assert_eq!(keys(&search(&index, "홍광호")), vec![(C, 1)]);
    // The old name is gone from the cast member but performances still list it.
    assert!(!keys(&search(&index, "조승우")).contains(&(C, 1)));
    // Performance 1 shares the id but not the kind, so it is untouched.
    assert_eq!(keys(&search(&index, "레미제라블")), vec![(P, 1)]);
    // Re-upserting the whole catalogue does not duplicate anything.
    index.upsert(docs()).unwrap();
    index.commit().unwrap();
    assert_eq!(search(&index, "조승우").total, 3);
}

#[test]
fn delete_removes_only_that_kind_and_id() {
    let index = fixture();
    index.delete(Kind::Venue, 2);
    index.delete(Kind::Venue, 999);
    index.commit().unwrap();
    let results = search(&index, "예술의전당");
    assert!(!keys(&results).contains(&(V, 2)));
    assert!(keys(&results).contains(&(P, 6)));
    assert_eq!(keys(&search(&index, "예술의")).len(), results.hits.len());
}

#[test]
fn clear_empties_the_index_at_commit() {
    let index = fixture();
    index.clear().unwrap();
    assert_eq!(search(&index, "라").total, 5, "old contents served until commit");
    index.commit().unwrap();
    assert_eq!(search(&index, "라").total, 0);
    index.upsert(docs()).unwrap();
    index.commit().unwrap();
    assert_eq!(search(&index, "라").total, 5);
}

#[test]
fn on_disk_index_survives_reopening() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let root = std::env::temp_dir().join(format!("curtain-search-index-{}-{nanos}", std::process::id()));
    let path = root.join("nested").join("index");
    let generation = {
        let index = SearchIndex::open_in_dir(&path).unwrap();
        index.upsert(docs()).unwrap();
        index.commit().unwrap()
    };
    let reopened = SearchIndex::open_in_dir(&path).unwrap();
    assert_eq!(reopened.generation(), generation);
    assert_eq!(keys(&search(&reopened, "미제라")), vec![(P, 1)]);
    assert!(reopened.commit().unwrap() > generation);
    drop(reopened);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn suggest_titles_and_names() {
    let index = fixture();
    let texts = |prefix: &str| {
        index
            .suggest(prefix, 5)
            .unwrap()
            .into_iter()
            .map(|s| s.text)
            .collect::<Vec<_>>()
    };
    assert_eq!(texts("레미"), vec!["레미제라블"]);
    assert_eq!(texts("미제"), vec!["레미제라블"]);
    assert_eq!(texts("phan"), vec!["오페라의 유령"]);
    assert_eq!(texts("les mis"), vec!["레미제라블"]);
    assert_eq!(texts("ㅈㅅㅇ"), vec!["조승우"]);
    assert_eq!(texts("조승"), vec!["조승우"], "cast lists are not suggested");
    let first = &index.suggest("조승우", 5).unwrap()[0];
    assert_eq!((first.kind, first.id), (C, 1));
    assert_eq!(index.suggest("라", 2).unwrap().len(), 2);
    assert!(index.suggest("", 5).unwrap().is_empty());
    assert!(index.suggest("zzzz", 5).unwrap().is_empty());
}

#[test]
fn index_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SearchIndex>();
    let index = std::sync::Arc::new(fixture());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let index = index.clone();
            std::thread::spawn(move || {
                if i == 0 {
                    index.upsert(docs()).unwrap();
                    index.commit().unwrap();
                }
                search(&index, "조승우").total
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 3);
    }
}
