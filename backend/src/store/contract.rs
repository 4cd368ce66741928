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
        in_answer_to: None,
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
    let given: Vec<_> = appended.iter().map(|a| a.stored().unwrap().id).collect();
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
    assert_eq!(
        first[1],
        Appended::Duplicate(first[0].stored().unwrap().clone())
    );
    let later = store
        .append(vec![draft("group", "hello", Some("c1"))])
        .await
        .unwrap();
    assert_eq!(
        later[0],
        Appended::Duplicate(first[0].stored().unwrap().clone())
    );
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

    // An answer in the batch of its message gets that message's id in its
    // extra; it is skipped when that message is a resend (answered when it
    // was first stored).
    let answer = |body: &str, to: usize| Draft {
        author: "ChatFriend".to_owned(),
        extra: None,
        in_answer_to: Some(to),
        ..draft("group", body, None)
    };
    let batch = store
        .append(vec![
            draft("group", "q", Some("c2")),
            answer("a1", 0),
            answer("a2", 0),
            draft("group", "hello", Some("c1")),
            answer("not again", 3),
        ])
        .await
        .unwrap();
    let stored: Vec<_> = batch.iter().map(Appended::stored).collect();
    let question = stored[0].unwrap().id;
    let first = stored[1].unwrap();
    assert_eq!(first.id, question + 1);
    assert_eq!(first.draft.in_answer_to, None);
    let extra: serde_json::Value =
        serde_json::from_str(first.draft.extra.as_deref().unwrap()).unwrap();
    assert_eq!(extra, serde_json::json!({"answers": question}));
    assert_eq!(stored[2].unwrap().id, question + 2);
    assert!(matches!(batch[3], Appended::Duplicate(_)));
    assert_eq!(batch[4], Appended::Skipped);
    let read = store.after("group", question, 10).await.unwrap();
    assert_eq!(ids(read.clone()), [question + 1, question + 2]);
    assert_eq!(read[0], *first, "stored as it was returned");
    let merged = store
        .append(vec![
            draft("group", "q2", None),
            Draft {
                extra: Some("{\"kind\":\"text\"}".to_owned()),
                ..answer("a3", 0)
            },
        ])
        .await
        .unwrap();
    let extra: serde_json::Value =
        serde_json::from_str(merged[1].stored().unwrap().draft.extra.as_deref().unwrap()).unwrap();
    let asked = merged[0].stored().unwrap().id;
    assert_eq!(extra, serde_json::json!({"kind": "text", "answers": asked}));

    // An empty batch stores nothing.
    assert!(store.append(Vec::new()).await.unwrap().is_empty());
}
