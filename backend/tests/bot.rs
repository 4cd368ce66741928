//! How the hub treats its bot: off the message path, under a timeout, and
//! with failures told to users in plain words. Driven through the real
//! server with our own native Socket.IO client.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_server::Settings;
use chat_server::bot::{BotError, BotReply, ChatBot, Speaker};
use serde_json::json;
use shared::events::{BOT_MESSAGE, NEW_MESSAGE};
use support::{TestClient, start};

/// Answers "slow" only after an hour, "broken" with an error, anything else at once.
struct MoodyBot;

#[async_trait]
impl ChatBot for MoodyBot {
    async fn reply(&self, _speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        match message {
            "slow" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(vec![BotReply::text("finally")])
            }
            "broken" => Err(BotError::Unavailable(
                "connection refused by rasa-internal:5005 (secret detail)".into(),
            )),
            other => Ok(vec![BotReply::text(format!("echo: {other}"))]),
        }
    }
}

fn settings(bot_timeout: Duration) -> Settings {
    Settings {
        bot_timeout,
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_slow_bot_does_not_delay_other_users() {
    let server = start(Arc::new(MoodyBot), settings(Duration::from_secs(30))).await;
    let mut ann = TestClient::connect(&server).await;
    let mut bob = TestClient::connect(&server).await;

    ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": "slow"}));
    assert_eq!(bob.next(NEW_MESSAGE).await["body"], "slow");

    bob.emit(NEW_MESSAGE, json!({"user": "bob", "body": "quick"}));
    assert_eq!(ann.next(NEW_MESSAGE).await["body"], "slow");
    assert_eq!(ann.next(NEW_MESSAGE).await["body"], "quick");
    // The first bot reply anyone sees is the answer to the later, quick message.
    assert_eq!(ann.next(BOT_MESSAGE).await["body"], "echo: quick");
    assert_eq!(bob.next(BOT_MESSAGE).await["body"], "echo: quick");
}

#[tokio::test]
async fn a_bot_that_times_out_or_fails_is_reported_without_details() {
    let server = start(Arc::new(MoodyBot), settings(Duration::from_millis(200))).await;
    let mut ann = TestClient::connect(&server).await;

    for body in ["slow", "broken"] {
        ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": body}));
        let reply = ann.next(BOT_MESSAGE).await;
        assert_eq!(reply["user"], "ChatFriend");
        assert_eq!(
            reply["body"],
            "The bot is unavailable right now; please try again later."
        );
    }
    // The chat itself goes on.
    ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": "still here"}));
    assert_eq!(ann.next(BOT_MESSAGE).await["body"], "echo: still here");
}

#[tokio::test]
async fn the_rule_bot_answers_like_the_tutorial() {
    let server = start(Arc::new(chat_server::bot::RuleBot), Settings::default()).await;
    let mut ann = TestClient::connect(&server).await;
    ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": "hello there?"}));
    let message = ann.next(NEW_MESSAGE).await;
    assert_eq!(message["user"], "ann");
    assert_eq!(ann.next(BOT_MESSAGE).await["body"], "Hello, ann!");
    assert_eq!(
        ann.next(BOT_MESSAGE).await["body"],
        "We will be right with you to answer your question."
    );
}

#[tokio::test]
async fn the_rule_bot_answers_in_the_messages_own_write_and_never_twice() {
    let server = start(Arc::new(chat_server::bot::RuleBot), Settings::default()).await;
    let mut ann = TestClient::connect(&server).await;
    let said = json!({"user": "ann", "body": "hi?", "client_id": "c1"});
    ann.emit(NEW_MESSAGE, said.clone());
    // The same message again, as a client resends it after a lost ack.
    ann.emit(NEW_MESSAGE, said);
    ann.emit(
        NEW_MESSAGE,
        json!({"user": "ann", "body": "bye", "client_id": "c2"}),
    );

    // Everything in one order: each message, then the bot's lines for it,
    // right after it and pointing at it; the resend is neither shown nor
    // answered again.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (event, line) = ann.next_of(&[NEW_MESSAGE, BOT_MESSAGE]).await;
        seen.push((
            event,
            line["id"].as_u64().unwrap(),
            line["body"].as_str().unwrap().to_owned(),
            line["answers"].as_u64(),
        ));
    }
    let expected = [
        (NEW_MESSAGE, 1, "hi?", None),
        (BOT_MESSAGE, 2, "Hello, ann!", Some(1)),
        (
            BOT_MESSAGE,
            3,
            "We will be right with you to answer your question.",
            Some(1),
        ),
        (NEW_MESSAGE, 4, "bye", None),
        (
            BOT_MESSAGE,
            5,
            "Did you have a question for us today?",
            Some(4),
        ),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(event, id, body, answers)| (event, id, body.to_owned(), answers))
        .collect();
    assert_eq!(seen, expected);

    // A newcomer's history holds the same five lines, nothing more.
    let mut bob = TestClient::connect(&server).await;
    let history = bob.next(shared::events::HISTORY).await;
    let ids: Vec<u64> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}
