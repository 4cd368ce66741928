//! The Rasa connector against a small server that follows Rasa's REST
//! channel contract: `POST /webhooks/rest/webhook` with `{"sender",
//! "message"}`, answered with `[{recipient_id, text?, image?, buttons?}]`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chat_server::Settings;
use chat_server::bot::{BotReply, ChatBot, RasaBot, Speaker, UNAVAILABLE};
use serde_json::{Value, json};
use shared::QuickReply;
use shared::events::{BOT_MESSAGE, NEW_MESSAGE};
use support::{TestClient, start};

/// Answers by message: `hi` with text, an image and buttons; `boom` with a
/// 500; `garbage` with invalid JSON; `silence` never.
async fn webhook(Json(request): Json<Value>) -> Response {
    let (Some(sender), Some(message)) = (request["sender"].as_str(), request["message"].as_str())
    else {
        return (StatusCode::BAD_REQUEST, "sender and message are required").into_response();
    };
    match message {
        "boom" => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        "garbage" => "this is not json".into_response(),
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

async fn fake_rasa() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/webhooks/rest/webhook", post(webhook));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn text_images_and_buttons_come_back_in_order() {
    let bot = RasaBot::new(&fake_rasa().await);
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
    let bot = RasaBot::new(&fake_rasa().await);
    assert!(bot.reply(ANN, "boom").await.is_err());
    assert!(bot.reply(ANN, "garbage").await.is_err());
    let nobody = RasaBot::new("http://127.0.0.1:9");
    assert!(nobody.reply(ANN, "hi").await.is_err());
}

#[tokio::test]
async fn through_the_chat_a_failing_engine_is_only_unavailable() {
    let rasa: Arc<dyn ChatBot> = Arc::new(RasaBot::new(&fake_rasa().await));
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
