//! A private message that was stored and acknowledged, but whose answer was
//! never stored (the server stopped in between), is answered when the
//! server starts again: once, and only that one.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chat_server::Settings;
use chat_server::bot::{BotError, BotReply, ChatBot, Speaker};
use chat_server::identity::UserId;
use chat_server::store::{Draft, MemoryStore, OffThread, Store};
use protocol::ClientConfig;
use serde_json::json;
use shared::events::BOT_HISTORY;
use support::{TestClient, start};

/// Echoes, and remembers who asked what.
#[derive(Default)]
struct EchoBot {
    asked: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl ChatBot for EchoBot {
    async fn reply(&self, speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        self.asked
            .lock()
            .unwrap()
            .push((speaker.conversation.to_owned(), message.to_owned()));
        Ok(vec![BotReply::text(format!("echo: {message}"))])
    }
}

fn line(room: &str, author: &str, body: &str) -> Draft {
    Draft {
        room: room.to_owned(),
        author: author.to_owned(),
        body: body.to_owned(),
        extra: None,
        client_id: None,
        sent_at: 1,
        in_answer_to: None,
    }
}

#[tokio::test]
async fn a_message_left_unanswered_by_a_stop_is_answered_at_the_next_start() {
    // What a server left behind when it was killed: ann's last message was
    // stored (and acknowledged) but not answered; bob's conversation is
    // complete; the group chat is not a conversation with the bot.
    let store = Arc::new(OffThread::new(MemoryStore::default()));
    store
        .append(vec![
            line("user:ann", "ann", "hello"),
            line("user:ann", shared::BOT_NAME, "echo: hello"),
            line("user:ann", "ann", "are you there?"),
            line("user:bob", "bob", "hi"),
            line("user:bob", shared::BOT_NAME, "echo: hi"),
            line("group", "cy", "anyone?"),
        ])
        .await
        .unwrap();
    let bot = Arc::new(EchoBot::default());
    let settings = Settings {
        store: store.clone(),
        ..Settings::default()
    };
    let server = start(bot.clone(), settings.clone()).await;

    let answered = async {
        while store.latest_id("user:ann").await.unwrap() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), answered)
        .await
        .expect("ann's question is answered after the restart");
    let last = store.before("user:ann", None, 1).await.unwrap().remove(0);
    assert_eq!(
        (last.draft.author.as_str(), last.draft.body.as_str()),
        (shared::BOT_NAME, "echo: are you there?")
    );
    // Only the unanswered question was asked, once (the answer is stored
    // before the next conversation would be looked at; there is none).
    assert_eq!(
        *bot.asked.lock().unwrap(),
        [("user:ann".to_owned(), "are you there?".to_owned())]
    );
    assert_eq!(store.latest_id("user:bob").await.unwrap(), 2);
    assert_eq!(store.latest_id("group").await.unwrap(), 1);

    // Ann, back later, finds the answer in her conversation.
    let token = settings.signer.issue(&UserId::parse("ann").unwrap());
    let config = ClientConfig {
        auth: Some(json!({"token": token})),
        ..ClientConfig::default()
    };
    let mut ann = TestClient::connect_with(&server, config).await;
    // Not heard from since the start: the default shape, a JSON string.
    let history = ann.next(BOT_HISTORY).await;
    let history: serde_json::Value =
        serde_json::from_str(history.as_str().expect("a JSON string")).unwrap();
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "hello",
            "echo: hello",
            "are you there?",
            "echo: are you there?"
        ]
    );
}
