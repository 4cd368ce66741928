//! Two chat-server nodes on one PostgreSQL database: what is said on one
//! reaches the clients of the other, in one order with dense ids, and the
//! bot answers each message once.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use chat_server::bot::{BotError, BotReply, ChatBot, Speaker};
use chat_server::identity::{Signer, UserId};
use chat_server::store::PostgresStore;
use chat_server::{ReplyShape, Settings};
use protocol::ClientConfig;
use serde_json::{Value, json};
use shared::events::{
    BOT_HISTORY, BOT_MESSAGE, BOTMASTER_ECHO, BOTMASTER_MESSAGE, HISTORY, NEW_MESSAGE, READ, TYPING,
};
use support::{TestClient, TestServer, start};

/// Echoes every message.
struct EchoBot;

#[async_trait]
impl ChatBot for EchoBot {
    async fn reply(&self, _speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        Ok(vec![BotReply::text(format!("echo: {message}"))])
    }
}

/// A node on the database at `url`, named `id`, checking tokens with `signer`.
async fn node(url: &str, id: &str, signer: &Signer) -> TestServer {
    let store = PostgresStore::connect(url, id).await.unwrap();
    let settings = Settings {
        store: Arc::new(store),
        node_id: id.to_owned(),
        signer: signer.clone(),
        botmaster_replies: ReplyShape::Object,
        ..Settings::default()
    };
    start(Arc::new(EchoBot), settings).await
}

/// Two nodes on a fresh database, with one token secret.
async fn cluster() -> (TestServer, TestServer, Signer) {
    let url = support::postgres::fresh_database().await;
    let signer = Settings::default().signer;
    let one = node(&url, "one", &signer).await;
    let two = node(&url, "two", &signer).await;
    (one, two, signer)
}

/// The next `count` group messages (people's and the bot's) `client` gets,
/// as (id, user, body), in the order it got them.
async fn messages(client: &mut TestClient, count: usize) -> Vec<(u64, String, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let (_, message): (&str, Value) = client.next_of(&[NEW_MESSAGE, BOT_MESSAGE]).await;
        seen.push((
            message["id"].as_u64().unwrap(),
            message["user"].as_str().unwrap().to_owned(),
            message["body"].as_str().unwrap().to_owned(),
        ));
    }
    seen
}

#[tokio::test]
async fn a_message_said_on_one_node_reaches_the_other_in_one_order() {
    let (one, two, _) = cluster().await;
    let mut ann = TestClient::connect(&one).await;
    let mut bob = TestClient::connect(&two).await;
    ann.next(HISTORY).await;
    bob.next(HISTORY).await;

    for n in 0..5 {
        ann.emit(
            NEW_MESSAGE,
            json!({"user": "ann", "body": format!("from one {n}")}),
        );
        bob.emit(
            NEW_MESSAGE,
            json!({"user": "bob", "body": format!("from two {n}")}),
        );
    }
    // Ten messages and ten answers, every one seen by both, in one order.
    let at_one = messages(&mut ann, 20).await;
    let at_two = messages(&mut bob, 20).await;
    assert_eq!(at_one, at_two, "both nodes send out the same stream");
    let ids: Vec<u64> = at_one.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>(), "dense ids, in order");
    for n in 0..5 {
        for (who, node) in [("ann", "one"), ("bob", "two")] {
            let said = format!("from {node} {n}");
            let answers = at_one
                .iter()
                .filter(|(_, user, body)| {
                    user == shared::BOT_NAME && *body == format!("echo: {said}")
                })
                .count();
            assert_eq!(answers, 1, "one answer to {who}'s {said:?}");
        }
    }

    // A client that comes later, to either node, gets the same history.
    let mut cy = TestClient::connect(&two).await;
    let history = cy.next(HISTORY).await;
    let replayed: Vec<u64> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(replayed, ids);
}

#[tokio::test]
async fn a_client_whose_node_stops_for_good_moves_to_the_other_and_misses_nothing() {
    let (one, two, _) = cluster().await;
    let mut ann = TestClient::connect_any(&[&one, &two]).await;
    ann.next(HISTORY).await;
    let mut bob = TestClient::connect(&two).await;
    bob.next(HISTORY).await;

    drop(one);
    ann.disconnected().await;
    // Said while Ann is between nodes, and typed by her while offline.
    bob.emit(
        NEW_MESSAGE,
        json!({"user": "bob", "body": "while you moved"}),
    );
    ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": "typed offline"}));

    // Node one is gone for good: only node two can greet her.
    let history = ann.next(HISTORY).await;
    let in_history = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body"] == "while you moved")
        .count();
    if in_history == 0 {
        let live = messages(&mut ann, 1).await;
        assert_eq!(live[0].2, "while you moved", "what she missed comes next");
    } else {
        assert_eq!(in_history, 1);
    }
    // What she typed offline was sent once she was on node two.
    loop {
        let (_, user, body) = messages(&mut bob, 1).await.remove(0);
        if body == "typed offline" {
            assert_eq!(user, "ann");
            break;
        }
    }
}

#[tokio::test]
async fn a_users_tabs_on_two_nodes_both_get_every_answer_once() {
    let (one, two, signer) = cluster().await;
    let token = signer.issue(&UserId::parse("ann").unwrap());
    let tab = |server| {
        let config = ClientConfig {
            auth: Some(json!({"token": token})),
            ..ClientConfig::default()
        };
        TestClient::connect_with(server, config)
    };
    let mut here = tab(&one).await;
    let mut there = tab(&two).await;
    here.next(BOT_HISTORY).await;
    there.next(BOT_HISTORY).await;

    for n in 0..3 {
        here.emit(
            BOTMASTER_MESSAGE,
            json!({"text": format!("question {n}"), "client_id": format!("c{n}")}),
        );
    }
    // The other tab, on the other node, sees each question and each
    // answer, in the conversation's one order.
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (event, line) = there.next_of(&[BOTMASTER_ECHO, BOTMASTER_MESSAGE]).await;
        let text = line["message"]["text"].as_str().unwrap().to_owned();
        seen.push((line["id"].as_u64().unwrap(), event, text));
    }
    let ids: Vec<u64> = seen.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids, (1..=6).collect::<Vec<_>>());
    let said = |event: &str| -> Vec<String> {
        seen.iter()
            .filter(|(_, e, _)| *e == event)
            .map(|(_, _, text)| text.clone())
            .collect()
    };
    assert_eq!(
        said(BOTMASTER_ECHO),
        ["question 0", "question 1", "question 2"]
    );
    assert_eq!(
        said(BOTMASTER_MESSAGE),
        ["echo: question 0", "echo: question 1", "echo: question 2"]
    );
    // The tab that asked gets the answers, not its own words back.
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (event, line) = here.next_of(&[BOTMASTER_ECHO, BOTMASTER_MESSAGE]).await;
        assert_eq!(event, BOTMASTER_MESSAGE);
        answers.push(line["message"]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(answers, said(BOTMASTER_MESSAGE));
    // Nothing else came: a marker through the group room arrives next.
    here.emit(NEW_MESSAGE, json!({"user": "ann", "body": "marker"}));
    let (event, _) = here
        .next_of(&[BOTMASTER_ECHO, BOTMASTER_MESSAGE, NEW_MESSAGE])
        .await;
    assert_eq!(event, NEW_MESSAGE, "no answer or echo twice");
    let (event, _) = there
        .next_of(&[BOTMASTER_ECHO, BOTMASTER_MESSAGE, NEW_MESSAGE])
        .await;
    assert_eq!(event, NEW_MESSAGE, "no answer or echo twice");
}

#[tokio::test]
async fn what_is_not_stored_crosses_nodes_too() {
    let (one, two, signer) = cluster().await;
    let token = signer.issue(&UserId::parse("ann").unwrap());
    let tab = |server| {
        let config = ClientConfig {
            auth: Some(json!({"token": token})),
            ..ClientConfig::default()
        };
        TestClient::connect_with(server, config)
    };
    let mut here = tab(&one).await;
    let mut there = tab(&two).await;
    here.next(HISTORY).await;
    there.next(HISTORY).await;
    // Ann names herself by speaking, then reads and types in one tab.
    here.emit(NEW_MESSAGE, json!({"user": "Ann", "body": "hello"}));
    assert_eq!(there.next(NEW_MESSAGE).await["id"], 1);
    here.emit(READ, json!({"room": "general", "id": 1}));
    let mark = there.next(READ).await;
    assert_eq!(
        (mark["room"].as_str(), mark["id"].as_u64()),
        (Some("general"), Some(1))
    );
    here.emit(TYPING, json!({"room": "general"}));
    let typing = there.next(TYPING).await;
    assert_eq!(typing["name"], "Ann");
    assert_eq!(typing["user_id"], "ann");
}
