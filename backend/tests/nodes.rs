//! Two chat-server nodes on one PostgreSQL database: what is said on one
//! reaches the clients of the other, in one order with dense ids, and the
//! bot answers each message once.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use chat_server::Settings;
use chat_server::bot::{BotError, BotReply, ChatBot, Speaker};
use chat_server::store::PostgresStore;
use serde_json::{Value, json};
use shared::events::{BOT_MESSAGE, HISTORY, NEW_MESSAGE};
use support::{TestClient, TestServer, start};

/// Echoes every message.
struct EchoBot;

#[async_trait]
impl ChatBot for EchoBot {
    async fn reply(&self, _speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        Ok(vec![BotReply::text(format!("echo: {message}"))])
    }
}

async fn node(url: &str) -> TestServer {
    let store = PostgresStore::connect(url).await.unwrap();
    let settings = Settings {
        store: Arc::new(store),
        ..Settings::default()
    };
    start(Arc::new(EchoBot), settings).await
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
    let url = support::postgres::fresh_database().await;
    let (one, two) = (node(&url).await, node(&url).await);
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
