//! The Botpress connector against a local HTTPS server that follows the
//! Chat API as Botpress publishes it (and as its client `@botpress/chat`
//! calls it): `POST /users` answers `{user, key}`; the key is the
//! `x-user-key` header of every other call; `POST /conversations` answers
//! `{conversation}`; `POST /messages {conversationId, payload}`;
//! `GET /conversations/{id}/listen` streams `message_created` signals, the
//! user's own messages as well as the bot's. A wrong key is a 401.

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_server::Settings;
use chat_server::bot::{
    BotError, BotReply, BotpressBot, ChatBot, EngineClient, EngineOptions, Speaker, UNAVAILABLE,
};
use chat_server::store::{MemoryStore, OffThread, SqliteStore, Store};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use shared::QuickReply;
use shared::events::{BOT_MESSAGE, NEW_MESSAGE};
use support::binary::chat_server;
use support::tls::{Flaw, TestCa, serve_https};
use support::{TestClient, TestServer, start, temp_dir};
use tokio::sync::mpsc;

const GROUP: Speaker<'static> = Speaker {
    conversation: "group:general",
    name: "ann",
};
const PRIVATE: Speaker<'static> = Speaker {
    conversation: "user:w07RlaIcDRRl",
    name: "Ann",
};

/// What the fake Botpress holds.
#[derive(Default)]
struct Botpress {
    /// key → user id.
    users: HashMap<String, String>,
    users_made: usize,
    /// conversation id → its user.
    conversations: HashMap<String, String>,
    /// conversation id → its listeners.
    listeners: HashMap<String, Vec<mpsc::UnboundedSender<Value>>>,
    /// (conversation id, text) of every message said.
    said: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Botpress>>;

fn user_of(botpress: &Botpress, headers: &HeaderMap) -> Option<String> {
    let key = headers.get("x-user-key")?.to_str().ok()?;
    botpress.users.get(key).cloned()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": 401, "type": "Unauthorized", "message": "Invalid x-user-key"})),
    )
        .into_response()
}

async fn create_user(State(botpress): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut botpress = botpress.lock().unwrap();
    botpress.users_made += 1;
    let n = botpress.users_made;
    let (id, key) = (format!("user_{n}"), format!("key_{n}"));
    botpress.users.insert(key.clone(), id.clone());
    Json(json!({
        "user": {"id": id, "name": body["name"], "createdAt": "2026-12-02T00:00:00.000Z", "updatedAt": "2026-12-02T00:00:00.000Z"},
        "key": key,
    }))
    .into_response()
}

async fn create_conversation(State(botpress): State<Shared>, headers: HeaderMap) -> Response {
    let mut botpress = botpress.lock().unwrap();
    let Some(user) = user_of(&botpress, &headers) else {
        return unauthorized();
    };
    let id = format!("conv_{}", botpress.conversations.len() + 1);
    botpress.conversations.insert(id.clone(), user);
    Json(json!({"conversation": {"id": id, "createdAt": "2026-12-02T00:00:00.000Z", "updatedAt": "2026-12-02T00:00:00.000Z"}}))
        .into_response()
}

async fn listen(
    State(botpress): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut botpress = botpress.lock().unwrap();
    let Some(user) = user_of(&botpress, &headers) else {
        return unauthorized();
    };
    if botpress.conversations.get(&id) != Some(&user) {
        return (StatusCode::NOT_FOUND, "no such conversation").into_response();
    }
    let (signals, arriving) = mpsc::unbounded_channel::<Value>();
    botpress.listeners.entry(id).or_default().push(signals);
    let stream = tokio_stream(arriving)
        .map(|signal| Ok::<_, Infallible>(Event::default().data(signal.to_string())));
    Sse::new(stream).into_response()
}

fn tokio_stream(
    mut receiver: mpsc::UnboundedReceiver<Value>,
) -> impl futures_util::Stream<Item = Value> {
    futures_util::stream::poll_fn(move |context| receiver.poll_recv(context))
}

/// A `message_created` signal in `conversation`.
fn created(conversation: &str, user: &str, is_bot: bool, payload: Value) -> Value {
    json!({"type": "message_created", "data": {
        "id": format!("msg_{}", rand_id()),
        "createdAt": "2026-12-02T00:00:00.000Z",
        "conversationId": conversation,
        "userId": user,
        "isBot": is_bot,
        "payload": payload,
    }})
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The bot: `hi` is answered with a text, an image and a choice, 50 ms
/// apart; `boom` fails; `silence` is never answered; anything else is echoed.
async fn create_message(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let (conversation, text, listeners) = {
        let mut botpress = shared.lock().unwrap();
        let Some(user) = user_of(&botpress, &headers) else {
            return unauthorized();
        };
        let conversation = body["conversationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if botpress.conversations.get(&conversation) != Some(&user) {
            return (StatusCode::NOT_FOUND, "no such conversation").into_response();
        }
        let text = body["payload"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if body["payload"]["type"] != "text" || text == "boom" {
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
        botpress.said.push((conversation.clone(), text.clone()));
        let listeners = botpress
            .listeners
            .get(&conversation)
            .cloned()
            .unwrap_or_default();
        // The user's own message is signalled too.
        let echo = created(&conversation, &user, false, body["payload"].clone());
        for listener in &listeners {
            let _ = listener.send(echo.clone());
        }
        (conversation, text, listeners)
    };
    let answers = match text.as_str() {
        "silence" => Vec::new(),
        "hi" => vec![
            json!({"type": "text", "text": "Hello from Botpress"}),
            json!({"type": "image", "imageUrl": "https://example.com/bot.png"}),
            json!({"type": "choice", "text": "Tea or coffee?", "options": [
                {"label": "Tea", "value": "tea"}, {"label": "Coffee", "value": "coffee"}
            ]}),
        ],
        _ => vec![json!({"type": "text", "text": format!("You said: {text}")})],
    };
    tokio::spawn(async move {
        for answer in answers {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let signal = created(&conversation, "bot_1", true, answer);
            for listener in &listeners {
                let _ = listener.send(signal.clone());
            }
        }
    });
    Json(json!({"message": {"id": format!("msg_{}", rand_id())}})).into_response()
}

/// A fake Botpress over HTTPS: its state, its URL and a client trusting its CA.
async fn fake_botpress() -> (Shared, String, EngineClient) {
    let (shared, url, client, _) = fake_botpress_with_ca().await;
    (shared, url, client)
}

/// Like [`fake_botpress`], with the file of its CA too.
async fn fake_botpress_with_ca() -> (Shared, String, EngineClient, PathBuf) {
    let ca = TestCa::new();
    let shared = Shared::default();
    let app = Router::new()
        .route("/users", post(create_user))
        .route("/conversations", post(create_conversation))
        .route("/conversations/{id}/listen", get(listen))
        .route("/messages", post(create_message))
        .with_state(shared.clone());
    let (url, _) = serve_https(app, &ca, Flaw::None).await;
    let ca_file = ca.pem_file();
    let client = EngineClient::new(&EngineOptions {
        timeout: Duration::from_secs(5),
        extra_ca: Some(ca_file.clone()),
    })
    .unwrap();
    (shared, url, client, ca_file)
}

fn memory() -> Arc<dyn Store> {
    Arc::new(OffThread::new(MemoryStore::default()))
}

fn botpress(url: &str, client: EngineClient, store: Arc<dyn Store>) -> BotpressBot {
    BotpressBot::new(url, client, store).with_quiet(Duration::from_millis(300))
}

#[tokio::test]
async fn texts_images_and_choices_come_back_in_order_without_the_users_own_message() {
    let (_, url, client) = fake_botpress().await;
    let bot = botpress(&url, client, memory());
    assert_eq!(
        bot.reply(PRIVATE, "hi").await.unwrap(),
        [
            BotReply::text("Hello from Botpress"),
            BotReply {
                image: Some("https://example.com/bot.png".into()),
                ..BotReply::default()
            },
            BotReply {
                text: "Tea or coffee?".into(),
                image: None,
                quick_replies: vec![
                    QuickReply::new("Tea", "tea"),
                    QuickReply::new("Coffee", "coffee")
                ],
            },
        ]
    );
    assert_eq!(
        bot.reply(PRIVATE, "tea").await.unwrap(),
        [BotReply::text("You said: tea")]
    );
}

#[tokio::test]
async fn each_conversation_keeps_its_own_user_and_conversation_across_a_restart() {
    let (botpress_state, url, client) = fake_botpress().await;
    let dir = temp_dir("botpress");
    let path = dir.join("chat.db");
    {
        let store: Arc<dyn Store> = Arc::new(OffThread::new(SqliteStore::open(&path).unwrap()));
        let bot = botpress(&url, client.clone(), store);
        bot.reply(GROUP, "one").await.unwrap();
        bot.reply(PRIVATE, "two").await.unwrap();
        bot.reply(GROUP, "three").await.unwrap();
    }
    // The server restarts: a new bot over the same file.
    let store: Arc<dyn Store> = Arc::new(OffThread::new(SqliteStore::open(&path).unwrap()));
    let bot = botpress(&url, client, store);
    assert_eq!(
        bot.reply(GROUP, "four").await.unwrap(),
        [BotReply::text("You said: four")]
    );
    let botpress_state = botpress_state.lock().unwrap();
    assert_eq!(
        botpress_state.users_made, 2,
        "one chat user per conversation"
    );
    let conversation_of = |text: &str| {
        botpress_state
            .said
            .iter()
            .find(|(_, said)| said == text)
            .map(|(conversation, _)| conversation.clone())
            .unwrap()
    };
    assert_eq!(conversation_of("one"), conversation_of("three"));
    assert_eq!(conversation_of("one"), conversation_of("four"));
    assert_ne!(conversation_of("one"), conversation_of("two"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_revoked_key_fails_once_then_a_new_user_is_made() {
    let (botpress_state, url, client) = fake_botpress().await;
    let bot = botpress(&url, client, memory());
    bot.reply(GROUP, "before").await.unwrap();
    // Botpress forgets every user (keys revoked, the integration reset).
    botpress_state.lock().unwrap().users.clear();
    let refused = bot.reply(GROUP, "during").await.expect_err("a 401");
    assert!(
        matches!(refused, BotError::Status { status: 401, .. }),
        "{refused}"
    );
    assert_eq!(
        bot.reply(GROUP, "after").await.unwrap(),
        [BotReply::text("You said: after")]
    );
    assert_eq!(botpress_state.lock().unwrap().users_made, 2);
}

#[tokio::test]
async fn errors_and_silence_are_errors_not_replies_and_the_chat_goes_on() {
    let (_, url, client) = fake_botpress().await;
    let bot = botpress(&url, client.clone(), memory());
    let boom = bot.reply(GROUP, "boom").await.expect_err("a 500");
    assert!(
        matches!(boom, BotError::Status { status: 500, .. }),
        "{boom}"
    );
    let silent = tokio::time::timeout(Duration::from_millis(500), bot.reply(GROUP, "silence"));
    assert!(silent.await.is_err(), "never answered");
    let nobody = botpress("https://127.0.0.1:9", client.clone(), memory());
    assert!(nobody.reply(GROUP, "hi").await.is_err());

    let settings = Settings {
        bot_timeout: Duration::from_millis(1500),
        ..Settings::default()
    };
    let store = settings.store.clone();
    let server = start(Arc::new(botpress(&url, client, store)), settings).await;
    let mut ann = TestClient::connect(&server).await;
    for (body, answer) in [
        ("boom", UNAVAILABLE),
        ("silence", UNAVAILABLE),
        ("hello", "You said: hello"),
    ] {
        ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": body}));
        assert_eq!(ann.next(BOT_MESSAGE).await["body"], answer, "after {body}");
    }
}

#[tokio::test]
async fn the_server_killed_and_restarted_goes_on_in_the_same_botpress_conversation() {
    let (botpress_state, url, _, ca_file) = fake_botpress_with_ca().await;
    let data = temp_dir("botpress-restart");
    let args = [
        "--bot",
        "botpress",
        "--botpress-url",
        &url,
        "--bot-ca-file",
        ca_file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    for body in ["before the crash", "after the crash"] {
        let (mut server, address) = chat_server(&args, &[]).await;
        let mut ann = TestClient::connect(&TestServer::at(address)).await;
        ann.emit(NEW_MESSAGE, json!({"user": "ann", "body": body}));
        assert_eq!(
            ann.next(BOT_MESSAGE).await["body"],
            format!("You said: {body}")
        );
        server.kill().await.unwrap();
    }
    let botpress_state = botpress_state.lock().unwrap();
    assert_eq!(
        botpress_state.users_made, 1,
        "the same chat user after the restart"
    );
    let conversations: Vec<&String> = botpress_state.said.iter().map(|(c, _)| c).collect();
    assert_eq!(conversations.len(), 2);
    assert_eq!(conversations[0], conversations[1]);
    let _ = std::fs::remove_dir_all(data);
}
