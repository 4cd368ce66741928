//! What every [`Store`] must do with messages, checked on each engine
//! (SQLite, memory, PostgreSQL) by its own tests.

use super::{Appended, Draft, Store, Stored};

fn draft(room: &str, body: &str, client_id: Option<&str>) -> Draft {
    Draft {
        room: room.to_owned(),
        author: "ann".to_owned(),
        body: body.to_owned(),
        extra: Some("{\"answers\":1}".to_owned()),
        client_id: client_id.map(str::to_owned),
        sent_at: 1_700_000_000_000,
    }
}

fn ids(messages: Vec<Stored>) -> Vec<u64> {
    messages.into_iter().map(|s| s.id).collect()
}

/// Checks `store`, which must hold no messages yet.
pub(crate) async fn check(store: &dyn Store) {
    // Ids grow per room, in batch order.
    let appended = store
        .append(vec![
            draft("group", "a", None),
            draft("user:1", "x", None),
            draft("group", "b", None),
        ])
        .await
        .unwrap();
    let given: Vec<_> = appended.iter().map(|a| a.stored().id).collect();
    assert_eq!(given, [1, 1, 2]);
    assert_eq!(
        appended[0],
        Appended::New(Stored {
            id: 1,
            draft: draft("group", "a", None)
        })
    );

    // A client id is stored once, even within one batch, and per room.
    let first = store
        .append(vec![
            draft("group", "hello", Some("c1")),
            draft("group", "hello again", Some("c1")),
        ])
        .await
        .unwrap();
    assert!(matches!(first[0], Appended::New(_)));
    assert_eq!(first[1], Appended::Duplicate(first[0].stored().clone()));
    let later = store
        .append(vec![draft("group", "hello", Some("c1"))])
        .await
        .unwrap();
    assert_eq!(later[0], Appended::Duplicate(first[0].stored().clone()));
    let elsewhere = store
        .append(vec![draft("user:1", "hello", Some("c1"))])
        .await
        .unwrap();
    assert!(matches!(elsewhere[0], Appended::New(_)));
    assert_eq!(store.latest_id("group").await.unwrap(), 3);
    assert_eq!(store.latest_id("nobody").await.unwrap(), 0);

    // Pages before and after, oldest first.
    let drafts = (1..=10)
        .map(|n| draft("group:dev", &n.to_string(), None))
        .collect();
    store.append(drafts).await.unwrap();
    let room = "group:dev";
    assert_eq!(ids(store.before(room, None, 3).await.unwrap()), [8, 9, 10]);
    assert_eq!(
        ids(store.before(room, Some(8), 3).await.unwrap()),
        [5, 6, 7]
    );
    assert_eq!(ids(store.before(room, Some(2), 3).await.unwrap()), [1]);
    assert_eq!(ids(store.after(room, 7, 100).await.unwrap()), [8, 9, 10]);
    assert!(store.after(room, 10, 100).await.unwrap().is_empty());
    let read = store.after(room, 0, 1).await.unwrap().remove(0);
    assert_eq!(
        read,
        Stored {
            id: 1,
            draft: draft(room, "1", None)
        }
    );

    // The latest id of each room by prefix.
    let mut latest = store.latest_ids("group").await.unwrap();
    latest.sort();
    assert_eq!(
        latest,
        [("group".to_owned(), 3), ("group:dev".to_owned(), 10)]
    );

    // An empty batch stores nothing.
    assert!(store.append(Vec::new()).await.unwrap().is_empty());
}
