//! The OpenAI-compatible connector against a small server that follows the
//! chat-completions streaming contract: `POST /v1/chat/completions` with
//! `{model, messages, stream: true}`, answered with `text/event-stream`
//! chunks `data: {"choices":[{"delta":{"content"}}]}` and a final
//! `data: [DONE]`. Written on plain TCP, so a stream can be cut off midway.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_server::Settings;
use chat_server::bot::{
    BotReply, ChatBot, EngineClient, EngineOptions, OpenAiBot, Speaker, UNAVAILABLE,
};
use chat_server::identity::UserId;
use protocol::ClientConfig;
use serde_json::{Value, json};
use shared::events::{BOT_STREAM, BOTMASTER_MESSAGE};
use support::tls::{Flaw, TestCa, TlsListener, handshake};
use support::{TestClient, engine_client, start};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;

const ANN: Speaker<'static> = Speaker {
    conversation: "group:ann",
    name: "ann",
};
const BOB: Speaker<'static> = Speaker {
    conversation: "group:bob",
    name: "bob",
};

/// What the fake server was asked, request by request.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// Answers by the last user message: `hi` in three pieces; `slowly` in five
/// pieces 150 ms apart; `cut` stops midway; `boom` is a 500; `garbage` is
/// not JSON; `silence` never answers.
async fn fake_openai() -> (String, Seen, EngineClient) {
    // HTTPS with a CA made here, HTTP/1.1 (the answers below are written by hand).
    let ca = TestCa::new();
    let listener = TlsListener::bind_offering(&ca, Flaw::None, &[b"http/1.1"]).await;
    let url = listener.url();
    let client = EngineClient::new(&EngineOptions {
        timeout: Duration::from_secs(5),
        extra_ca: Some(ca.pem_file()),
    })
    .unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, acceptor) = listener.accept().await;
            let log = log.clone();
            tokio::spawn(async move {
                if let Some(stream) = handshake(stream, acceptor).await {
                    answer(stream, log).await;
                }
            });
        }
    });
    (url, seen, client)
}

async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, seen: Seen) {
    let (head, body) = read_request(&mut stream).await;
    assert!(
        head.starts_with("POST /v1/chat/completions "),
        "unexpected request: {head}"
    );
    let bearer = head
        .lines()
        .find_map(|line| line.strip_prefix("authorization: Bearer "))
        .map(str::to_owned);
    let request: Value = serde_json::from_slice(&body).unwrap();
    seen.lock().unwrap().push((bearer, request.clone()));
    let last = request["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let chunk = |text: &str| {
        format!(
            "data: {}\n\n",
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]})
        )
    };
    let events = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    let role = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";
    let stop = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let mut write = async |text: &str| {
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.flush().await;
    };
    match last.as_str() {
        "boom" => {
            write("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\nconnection: close\r\n\r\noops!").await;
        }
        "garbage" => {
            write(events).await;
            write("data: {this is not json\n\ndata: [DONE]\n\n").await;
        }
        "silence" => tokio::time::sleep(Duration::from_secs(3600)).await,
        "endless" => {
            // One line that never ends: 2 MiB of it, then silence.
            write(events).await;
            let line = format!("data: {}", "x".repeat(64 * 1024));
            for _ in 0..32 {
                write(&line[..64 * 1024]).await;
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "long" => {
            // A long line (near the answer's limit), and every line split somewhere,
            // written a little at a time.
            write(events).await;
            let body = format!(
                "{role}{}{}{stop}data: [DONE]\n\n",
                chunk(&"x".repeat(60_000)),
                chunk(" and\r\nmore")
            );
            for piece in body.as_bytes().chunks(1000) {
                let _ = stream.write_all(piece).await;
            }
            let _ = stream.flush().await;
        }
        "cut" => {
            write(events).await;
            write(role).await;
            write(&chunk("Half an ")).await;
            // The connection closes here, without [DONE].
        }
        "slowly" => {
            write(events).await;
            for piece in ["one ", "two ", "three ", "four ", "five"] {
                tokio::time::sleep(Duration::from_millis(150)).await;
                write(&chunk(piece)).await;
            }
            write("data: [DONE]\n\n").await;
        }
        _ => {
            write(events).await;
            write(role).await;
            for piece in ["Hel", "lo ", "there"] {
                write(&chunk(piece)).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            write(stop).await;
            write("data: [DONE]\n\n").await;
        }
    }
}

/// Reads one request: its head (lower-cased header names) and its body.
async fn read_request(stream: &mut (impl AsyncRead + Unpin)) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "request ended early");
        bytes.extend_from_slice(&buffer[..n]);
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
            let head = head
                .lines()
                .map(|line| match line.split_once(':') {
                    Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
                    None => line.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            let mut body = bytes[end + 4..].to_vec();
            while body.len() < length {
                let n = stream.read(&mut buffer).await.unwrap();
                body.extend_from_slice(&buffer[..n]);
            }
            return (head, body);
        }
    }
}

#[tokio::test]
async fn pieces_arrive_as_written_and_make_up_the_answer() {
    let (url, seen, client) = fake_openai().await;
    let bot = OpenAiBot::new(&url, "tiny-model", Some("sk-test".to_owned()), client);
    let (pieces, mut arriving) = mpsc::unbounded_channel();
    let replies = bot.reply_streaming(ANN, "hi", pieces).await.unwrap();
    assert_eq!(replies, [BotReply::text("Hello there")]);
    let mut streamed = Vec::new();
    while let Ok(piece) = arriving.try_recv() {
        streamed.push(piece);
    }
    assert_eq!(streamed, ["Hel", "lo ", "there"]);

    let (bearer, request) = seen.lock().unwrap()[0].clone();
    assert_eq!(bearer.as_deref(), Some("sk-test"));
    assert_eq!(request["model"], "tiny-model");
    assert_eq!(request["stream"], true);
    assert_eq!(
        request["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
}

#[tokio::test]
async fn each_question_carries_the_conversation_so_far() {
    let (url, seen, client) = fake_openai().await;
    let bot = OpenAiBot::new(&url, "tiny-model", None, client);
    bot.reply(ANN, "hi").await.unwrap();
    bot.reply(BOB, "hi").await.unwrap();
    bot.reply(ANN, "how are you?").await.unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests[0].0, None, "no key, no Authorization header");
    assert_eq!(
        requests[2].1["messages"],
        json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello there"},
            {"role": "user", "content": "how are you?"}
        ]),
        "ann's history only, never bob's"
    );
    // The same name in a private conversation is another conversation.
    let private = Speaker::new("user:ann", "ann");
    bot.reply(private, "just between us").await.unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(
        requests[3].1["messages"],
        json!([{"role": "user", "content": "just between us"}]),
        "nothing from the group chat"
    );
}

#[tokio::test]
async fn cut_off_streams_errors_and_silence_are_errors() {
    let (url, _, client) = fake_openai().await;
    let bot = OpenAiBot::new(&url, "m", None, client);
    for message in ["cut", "boom", "garbage"] {
        assert!(bot.reply(ANN, message).await.is_err(), "{message}");
    }
    let nobody = OpenAiBot::new("http://127.0.0.1:9", "m", None, engine_client());
    assert!(nobody.reply(ANN, "hi").await.is_err());
    let silent = tokio::time::timeout(Duration::from_millis(300), bot.reply(ANN, "silence"));
    assert!(silent.await.is_err(), "never answers");
}

#[tokio::test]
async fn long_lines_in_small_pieces_arrive_whole() {
    let (url, _, client) = fake_openai().await;
    let bot = OpenAiBot::new(&url, "m", None, client);
    let answer = bot.reply(ANN, "long").await.unwrap();
    assert_eq!(answer.len(), 1);
    assert_eq!(
        answer[0].text,
        format!("{} and\r\nmore", "x".repeat(60_000))
    );
}

#[tokio::test]
async fn a_line_that_never_ends_is_an_error_not_a_memory_leak() {
    let (url, _, client) = fake_openai().await;
    let bot = OpenAiBot::new(&url, "m", None, client);
    let answer = tokio::time::timeout(Duration::from_secs(10), bot.reply(ANN, "endless"))
        .await
        .expect("refused long before the engine's silence");
    let error = answer.expect_err("too long a line").to_string();
    assert!(error.contains("line over"), "{error}");
}

/// Connects a Botmaster-mode client for a fresh user of `settings`' signer.
async fn user_client(server: &support::TestServer, settings: &Settings) -> TestClient {
    let token = settings.signer.issue(&UserId::random());
    let config = ClientConfig {
        auth: Some(json!({"token": token})),
        ..ClientConfig::default()
    };
    TestClient::connect_with(server, config).await
}

/// The text of a Botmaster message event (a JSON string).
/// A Botmaster-mode event's payload: users who speak JSON strings get JSON
/// strings, users who speak objects get objects.
fn update(event: &Value) -> Value {
    match event {
        Value::String(json) => serde_json::from_str(json).unwrap(),
        object => object.clone(),
    }
}

#[tokio::test]
async fn botmaster_mode_streams_then_completes_the_same_message() {
    let (url, _, client) = fake_openai().await;
    let bot: Arc<dyn ChatBot> = Arc::new(OpenAiBot::new(&url, "m", None, client));
    let settings = Settings {
        // An idle limit, not a total one: "slowly" takes 750 ms in all.
        bot_timeout: Duration::from_millis(400),
        ..Settings::default()
    };
    let server = start(bot, settings.clone()).await;
    let mut ann = user_client(&server, &settings).await;

    for (question, answer) in [("hi", "Hello there"), ("slowly", "one two three four five")] {
        ann.emit(
            BOTMASTER_MESSAGE,
            json!(json!({"text": question}).to_string()),
        );
        let mut text = String::new();
        let mut stream_id = None;
        while text != answer {
            let event = ann.next(BOT_STREAM).await;
            assert!(event.is_string(), "a user speaking strings gets strings");
            let piece = update(&event);
            stream_id.get_or_insert(piece["id"].clone());
            assert_eq!(
                Some(&piece["id"]),
                stream_id.as_ref(),
                "one stream per answer"
            );
            text.push_str(piece["delta"].as_str().unwrap());
        }
        let event = ann.next(BOTMASTER_MESSAGE).await;
        assert!(event.is_string());
        let done = update(&event);
        assert_eq!(done["message"]["text"], answer);
        assert_eq!(Some(&done["streamId"]), stream_id.as_ref());
    }
}

#[tokio::test]
async fn botmaster_mode_replaces_a_broken_stream_with_the_short_notice() {
    let (url, _, client) = fake_openai().await;
    let bot: Arc<dyn ChatBot> = Arc::new(OpenAiBot::new(&url, "m", None, client));
    let settings = Settings {
        bot_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let server = start(bot, settings.clone()).await;
    let mut ann = user_client(&server, &settings).await;

    // Botmaster 3's shape, an object: answered in objects.
    ann.emit(BOTMASTER_MESSAGE, json!({"message": {"text": "cut"}}));
    let piece = ann.next(BOT_STREAM).await;
    assert_eq!(piece["delta"], "Half an ");
    let event = ann.next(BOTMASTER_MESSAGE).await;
    assert!(event.is_object(), "a user speaking objects gets objects");
    let done = update(&event);
    assert_eq!(done["message"]["text"], UNAVAILABLE);
    assert_eq!(
        done["streamId"], piece["id"],
        "the notice replaces the half answer"
    );

    for message in ["boom", "garbage", "silence"] {
        ann.emit(
            BOTMASTER_MESSAGE,
            json!(json!({"text": message}).to_string()),
        );
        let done = update(&ann.next(BOTMASTER_MESSAGE).await);
        assert_eq!(done["message"]["text"], UNAVAILABLE, "{message}");
        assert!(
            done.get("streamId").is_none(),
            "{message}: nothing was streamed"
        );
    }
    // The chat itself keeps working.
    ann.emit(BOTMASTER_MESSAGE, json!(json!({"text": "hi"}).to_string()));
    let done = update(&ann.next(BOTMASTER_MESSAGE).await);
    assert_eq!(done["message"]["text"], "Hello there");
}
