//! The Rasa connector against a small server that follows Rasa's REST
//! channel contract: `POST /webhooks/rest/webhook` with `{"sender",
//! "message"}`, answered with `[{recipient_id, text?, image?, buttons?}]`.
//! It is spoken to over HTTPS, with a certificate of a CA made by the test,
//! as a hosted Rasa (or one behind a private CA) would be.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_server::Settings;
use chat_server::bot::{
    BotReply, ChatBot, EngineClient, EngineOptions, RasaBot, Speaker, UNAVAILABLE,
};
use serde_json::{Value, json};
use shared::QuickReply;
use shared::events::{BOT_MESSAGE, NEW_MESSAGE};
use support::tls::{Flaw, TestCa, serve_http, serve_https};
use support::{TestClient, engine_client, start};

/// Answers by message: `hi` with text, an image and buttons; `boom` with a
/// 500; `garbage` with invalid JSON; `silence` never.
/// `version` is answered with the HTTP version the request came over.
async fn webhook(version: Version, Json(request): Json<Value>) -> Response {
    let (Some(sender), Some(message)) = (request["sender"].as_str(), request["message"].as_str())
    else {
        return (StatusCode::BAD_REQUEST, "sender and message are required").into_response();
    };
    match message {
        "version" => {
            Json(json!([{"recipient_id": sender, "text": format!("{version:?}")}])).into_response()
        }
        "boom" => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        "garbage" => "this is not json".into_response(),
        "huge" => Json(json!([{"recipient_id": sender, "text": "x".repeat(5 * 1024 * 1024)}]))
            .into_response(),
        "silence" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "too late".into_response()
        }
        _ => Json(json!([
            {"recipient_id": sender, "text": format!("Hey {sender}, you said {message}")},
            {"recipient_id": sender, "image": "http://127.0.0.1/cat.png"},
            {"recipient_id": sender, "text": "Shall we go on?", "buttons": [
                {"title": "Yes", "payload": "/affirm"},
                {"title": "No", "payload": "/deny"}
            ]}
        ]))
        .into_response(),
    }
}

const ANN: Speaker<'static> = Speaker {
    conversation: "group:ann",
    name: "ann",
};

/// A fake Rasa over HTTPS, as `flaw` makes its certificate: its URL, a
/// client that trusts its CA, and the count of TCP connections to it.
async fn fake_rasa_with(flaw: Flaw) -> (String, EngineClient, Arc<AtomicUsize>) {
    let ca = TestCa::new();
    let app = Router::new().route("/webhooks/rest/webhook", post(webhook));
    let (url, connections) = serve_https(app, &ca, flaw).await;
    let client = EngineClient::new(&EngineOptions {
        timeout: Duration::from_secs(5),
        extra_ca: Some(ca.pem_file()),
    })
    .unwrap();
    (url, client, connections)
}

/// A well-certified fake Rasa and a client for it.
async fn fake_rasa() -> (String, EngineClient) {
    let (url, client, _) = fake_rasa_with(Flaw::None).await;
    (url, client)
}

fn rasa((url, client): (String, EngineClient)) -> RasaBot {
    RasaBot::new(&url, client)
}

#[tokio::test]
async fn text_images_and_buttons_come_back_in_order() {
    let bot = rasa(fake_rasa().await);
    let replies = bot.reply(ANN, "hi").await.unwrap();
    assert_eq!(
        replies,
        [
            BotReply::text("Hey group:ann, you said hi"),
            BotReply {
                image: Some("http://127.0.0.1/cat.png".into()),
                ..BotReply::default()
            },
            BotReply {
                text: "Shall we go on?".into(),
                image: None,
                quick_replies: vec![
                    QuickReply::new("Yes", "/affirm"),
                    QuickReply::new("No", "/deny")
                ],
            },
        ]
    );
}

#[tokio::test]
async fn errors_and_garbage_are_errors_not_replies() {
    let bot = rasa(fake_rasa().await);
    assert!(bot.reply(ANN, "boom").await.is_err());
    assert!(bot.reply(ANN, "garbage").await.is_err());
    let huge = bot
        .reply(ANN, "huge")
        .await
        .expect_err("over the answer bound");
    assert!(huge.to_string().contains("bytes"), "{huge}");
    let nobody = RasaBot::new("http://127.0.0.1:9", engine_client());
    assert!(nobody.reply(ANN, "hi").await.is_err());
}

#[tokio::test]
async fn through_the_chat_a_failing_engine_is_only_unavailable() {
    let rasa: Arc<dyn ChatBot> = Arc::new(rasa(fake_rasa().await));
    let settings = Settings {
        bot_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let server = start(rasa, settings).await;
    let mut ann = TestClient::connect(&server).await;
    ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": "hi"}));
    // Rasa gets the conversation as its sender: the group chat's, not a private one.
    assert_eq!(
        ann.next(BOT_MESSAGE).await["body"],
        "Hey group:ann, you said hi"
    );
    let rest_of_hi = [
        "Image: http://127.0.0.1/cat.png",
        "Shall we go on?",
        "Options: Yes | No",
    ];
    for body in ["boom", "garbage", "silence"] {
        ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": body}));
        loop {
            let reply = ann.next(BOT_MESSAGE).await;
            if reply["body"] == UNAVAILABLE {
                break;
            }
            // Only the rest of the answer to "hi" may come first; never error details.
            let text = reply["body"].as_str().unwrap_or_default().to_owned();
            assert!(
                rest_of_hi.contains(&text.as_str()),
                "unexpected reply {text:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_hundred_messages_at_once_share_one_http2_connection() {
    let (url, client, connections) = fake_rasa_with(Flaw::None).await;
    let bot = RasaBot::new(&url, client);
    let asks = (0..100).map(|n| {
        let bot = &bot;
        async move { bot.reply(ANN, &format!("message {n}")).await }
    });
    for replies in futures_util::future::join_all(asks).await {
        assert_eq!(replies.unwrap().len(), 3);
    }
    assert_eq!(
        bot.reply(ANN, "version").await.unwrap(),
        [BotReply::text("HTTP/2.0")]
    );
    let opened = connections.load(Ordering::SeqCst);
    assert!(opened <= 2, "{opened} TCP connections for 101 messages");
}

#[tokio::test]
async fn over_plain_http_a_burst_opens_a_bounded_number_of_connections_and_keeps_them() {
    let app = Router::new().route("/webhooks/rest/webhook", post(webhook));
    let (url, connections) = serve_http(app).await;
    let bot = RasaBot::new(&url, engine_client());
    let asks = (0..100).map(|n| {
        let bot = &bot;
        async move { bot.reply(ANN, &format!("message {n}")).await }
    });
    for replies in futures_util::future::join_all(asks).await {
        assert_eq!(replies.unwrap().len(), 3);
    }
    let burst = connections.load(Ordering::SeqCst);
    assert!(burst <= 16, "{burst} TCP connections for a burst of 100");
    for n in 0..20 {
        bot.reply(ANN, &format!("one by one {n}")).await.unwrap();
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        burst,
        "kept alive, not reopened"
    );
    assert_eq!(
        bot.reply(ANN, "version").await.unwrap(),
        [BotReply::text("HTTP/1.1")]
    );
}

/// The error of `answer`, which must name `problem`.
fn assert_fails_with(answer: Result<Vec<BotReply>, chat_server::bot::BotError>, problem: &str) {
    let error = answer
        .expect_err("a bad certificate is refused")
        .to_string();
    assert!(
        error.contains(problem),
        "{error:?} does not say {problem:?}"
    );
    assert!(error.contains("TLS certificate rejected"), "{error:?}");
}

#[tokio::test]
async fn certificate_problems_are_named_and_the_chat_goes_on() {
    // Signed by a CA the client was not told about.
    let (url, _, _) = fake_rasa_with(Flaw::None).await;
    let stranger = RasaBot::new(&url, engine_client());
    assert_fails_with(
        stranger.reply(ANN, "hi").await,
        "unknown certificate authority",
    );
    let (url, client, _) = fake_rasa_with(Flaw::OtherHost).await;
    assert_fails_with(
        RasaBot::new(&url, client).reply(ANN, "hi").await,
        "not for this host name",
    );
    let (url, client, _) = fake_rasa_with(Flaw::Expired).await;
    let expired = RasaBot::new(&url, client);
    assert_fails_with(expired.reply(ANN, "hi").await, "has expired");

    // In the chat, people only hear that the bot is unavailable, and keep talking.
    let server = start(Arc::new(expired), Settings::default()).await;
    let mut ann = TestClient::connect(&server).await;
    let mut bob = TestClient::connect(&server).await;
    for body in ["hi", "still there?"] {
        ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": body}));
        assert_eq!(bob.next(NEW_MESSAGE).await["body"], body);
        assert_eq!(ann.next(BOT_MESSAGE).await["body"], UNAVAILABLE);
    }
}
