//! A Botpress bot through Botpress's Chat API, the HTTP API of its Chat
//! integration (`https://chat.botpress.cloud/{webhookId}`):
//! - `POST /users` makes a chat user and answers its key, which
//!   authenticates that user as the `x-user-key` header from then on;
//! - `POST /conversations` makes a conversation of that user;
//! - `POST /messages` with `{conversationId, payload: {type: "text", text}}`
//!   says something in it;
//! - `GET /conversations/{id}/listen` is a server-sent event stream of what
//!   happens in it, the bot's messages as `{"type": "message_created",
//!   "data": {payload, isBot, …}}`.
//!
//! Each of our conversations (a group room, a private conversation) gets
//! its own chat user and Botpress conversation, kept in the store so a
//! restart goes on with them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use shared::QuickReply;

use super::{BotError, BotReply, ChatBot, EngineClient, Speaker};
use crate::store::Store;

/// How long after the bot's latest message its answer counts as complete:
/// Botpress sends an answer as several messages and never says it is done.
const QUIET: Duration = Duration::from_millis(700);

/// Conversations are answered one question at a time each (two questions
/// listened to at once would each hear both answers), in this many lanes.
const LANES: usize = 64;

/// The header that authenticates a chat user.
const USER_KEY: &str = "x-user-key";

/// A Botpress bot behind its Chat API.
#[derive(Debug)]
pub struct BotpressBot {
    base: String,
    client: EngineClient,
    store: Arc<dyn Store>,
    lanes: Vec<Mutex<()>>,
    quiet: Duration,
}

/// What is kept per conversation: its chat user and Botpress conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    user_id: String,
    user_key: String,
    conversation_id: String,
}

impl BotpressBot {
    /// The bot whose Chat API is at `url` (`https://chat.botpress.cloud/`
    /// followed by the webhook id), keeping its sessions in `store`.
    pub fn new(url: &str, client: EngineClient, store: Arc<dyn Store>) -> Self {
        Self {
            base: url.trim_end_matches('/').to_owned(),
            client,
            store,
            lanes: (0..LANES).map(|_| Mutex::new(())).collect(),
            quiet: QUIET,
        }
    }

    /// Like [`BotpressBot::new`], counting an answer complete after
    /// `quiet` without another message (for tests).
    pub fn with_quiet(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }

    fn lane(&self, conversation: &str) -> &Mutex<()> {
        let mut hasher = DefaultHasher::new();
        conversation.hash(&mut hasher);
        &self.lanes[(hasher.finish() % LANES as u64) as usize]
    }

    /// The session of `speaker`'s conversation: the kept one, or a new chat
    /// user and conversation.
    async fn session(&self, speaker: Speaker<'_>) -> Result<Session, BotError> {
        let key = store_key(speaker.conversation);
        let kept = self.store.engine_session(&key).await.map_err(store_error)?;
        if let Some(session) = kept.and_then(|state| serde_json::from_str(&state).ok()) {
            return Ok(session);
        }
        let name = if speaker.conversation.starts_with("user:") {
            speaker.name
        } else {
            speaker.conversation
        };
        let created = self
            .client
            .json(
                self.client
                    .post(&format!("{}/users", self.base), &json!({"name": name})),
            )
            .await?;
        let (Some(user_id), Some(user_key)) =
            (created["user"]["id"].as_str(), created["key"].as_str())
        else {
            return Err(unexpected("POST /users", &created));
        };
        let conversation = self
            .client
            .json(
                self.client
                    .post(&format!("{}/conversations", self.base), &json!({}))
                    .header(USER_KEY, user_key),
            )
            .await?;
        let Some(conversation_id) = conversation["conversation"]["id"].as_str() else {
            return Err(unexpected("POST /conversations", &conversation));
        };
        let session = Session {
            user_id: user_id.to_owned(),
            user_key: user_key.to_owned(),
            conversation_id: conversation_id.to_owned(),
        };
        let state = serde_json::to_string(&session).expect("a session is JSON");
        self.store
            .set_engine_session(&key, Some(&state))
            .await
            .map_err(store_error)?;
        Ok(session)
    }

    /// Says `message` in `session`'s conversation and collects the bot's
    /// messages until it has been quiet for a while.
    async fn ask(&self, session: &Session, message: &str) -> Result<Vec<BotReply>, BotError> {
        // Listening first, so no answer can come before we hear it.
        let listen = self
            .client
            .get(&format!(
                "{}/conversations/{}/listen",
                self.base, session.conversation_id
            ))
            .header(USER_KEY, &session.user_key)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let mut events = self.client.events(listen).await?;
        let said = self
            .client
            .post(
                &format!("{}/messages", self.base),
                &json!({
                    "conversationId": session.conversation_id,
                    "payload": {"type": "text", "text": message},
                }),
            )
            .header(USER_KEY, &session.user_key);
        self.client.json_alongside(said).await?;

        let mut replies = Vec::new();
        let mut answered = false;
        loop {
            let next = if answered {
                match tokio::time::timeout(self.quiet, events.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                }
            } else {
                events.next().await
            };
            let data = match next {
                Some(Ok(data)) => data,
                Some(Err(error)) if !answered => return Err(error),
                None if !answered => {
                    return Err(BotError::Unavailable(
                        "the Botpress stream ended before the bot answered".to_owned(),
                    ));
                }
                Some(Err(_)) | None => break,
            };
            let Ok(signal) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let created = &signal["data"];
            let from_bot = created["isBot"]
                .as_bool()
                .unwrap_or_else(|| created["userId"].as_str() != Some(session.user_id.as_str()));
            if signal["type"] == "message_created" && from_bot {
                answered = true;
                replies.extend(replies_of(&created["payload"]));
            }
        }
        Ok(replies)
    }
}

#[async_trait]
impl ChatBot for BotpressBot {
    async fn reply(&self, speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        let _turn = self.lane(speaker.conversation).lock().await;
        let session = self.session(speaker).await?;
        let answer = self.ask(&session, message).await;
        if let Err(BotError::Status {
            status: 401 | 403 | 404,
            ..
        }) = &answer
        {
            // The user's key was revoked, or the conversation is gone (a
            // Botpress reset): the next question starts afresh.
            tracing::warn!(
                conversation = speaker.conversation,
                "Botpress no longer knows this conversation's user; a new one will be made"
            );
            let key = store_key(speaker.conversation);
            self.store
                .set_engine_session(&key, None)
                .await
                .map_err(store_error)?;
        }
        answer
    }
}

fn store_key(conversation: &str) -> String {
    format!("botpress:{conversation}")
}

fn store_error(error: crate::store::StoreError) -> BotError {
    BotError::Unavailable(format!("cannot keep the Botpress session: {error}"))
}

fn unexpected(what: &str, answer: &Value) -> BotError {
    BotError::Unavailable(format!(
        "unexpected answer to {what} from Botpress: {answer}"
    ))
}

/// What a Botpress message payload shows, as the chat's replies: texts and
/// markdown as text, images as images, choices and dropdowns as quick
/// replies, cards and carousels as their parts, blocs item by item, and
/// audio, video, files and locations as text naming them.
fn replies_of(payload: &Value) -> Vec<BotReply> {
    let text = |key: &str| payload[key].as_str().unwrap_or_default().to_owned();
    match payload["type"].as_str().unwrap_or_default() {
        "text" => vec![BotReply::text(text("text"))],
        "markdown" => vec![BotReply::text(text("markdown"))],
        "image" => vec![BotReply {
            image: Some(text("imageUrl")),
            ..BotReply::default()
        }],
        "choice" | "dropdown" => vec![BotReply {
            text: text("text"),
            image: None,
            quick_replies: options(&payload["options"], "label", "value"),
        }],
        "card" => vec![card(payload)],
        "carousel" => payload["items"]
            .as_array()
            .map(|items| items.iter().map(card).collect())
            .unwrap_or_default(),
        "bloc" => payload["items"]
            .as_array()
            .map(|items| items.iter().flat_map(replies_of).collect())
            .unwrap_or_default(),
        "audio" => vec![BotReply::text(format!("Audio: {}", text("audioUrl")))],
        "video" => vec![BotReply::text(format!("Video: {}", text("videoUrl")))],
        "file" => vec![BotReply::text(format!("File: {}", text("fileUrl")))],
        "location" => vec![BotReply::text(format!(
            "Location: {}, {}",
            payload["latitude"], payload["longitude"]
        ))],
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|reply| *reply != BotReply::default())
    .collect()
}

/// A card: its title (and subtitle), image, and the actions that say
/// something back as quick replies (links are left out).
fn card(card: &Value) -> BotReply {
    let title = card["title"].as_str().unwrap_or_default();
    let text = match card["subtitle"].as_str() {
        Some(subtitle) => format!("{title}\n{subtitle}"),
        None => title.to_owned(),
    };
    let actions: Vec<Value> = card["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .filter(|action| action["action"] != "url")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    BotReply {
        text,
        image: card["imageUrl"].as_str().map(str::to_owned),
        quick_replies: options(&Value::Array(actions), "label", "value"),
    }
}

fn options(options: &Value, title: &str, payload: &str) -> Vec<QuickReply> {
    options
        .as_array()
        .map(|options| {
            options
                .iter()
                .filter_map(|option| {
                    Some(QuickReply::new(
                        option[title].as_str()?,
                        option[payload].as_str()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_become_replies() {
        assert_eq!(
            replies_of(&json!({"type": "text", "text": "Hi"})),
            [BotReply::text("Hi")]
        );
        assert_eq!(
            replies_of(&json!({"type": "choice", "text": "Pick", "options": [
                {"label": "Dog", "value": "dog"}, {"label": "Cat", "value": "cat"}
            ]})),
            [BotReply {
                text: "Pick".into(),
                image: None,
                quick_replies: vec![QuickReply::new("Dog", "dog"), QuickReply::new("Cat", "cat")],
            }]
        );
        assert_eq!(
            replies_of(&json!({"type": "bloc", "items": [
                {"type": "markdown", "markdown": "**Hi**"},
                {"type": "image", "imageUrl": "https://example.com/a.png"}
            ]})),
            [
                BotReply::text("**Hi**"),
                BotReply {
                    image: Some("https://example.com/a.png".into()),
                    ..BotReply::default()
                }
            ]
        );
        let carousel = replies_of(&json!({"type": "carousel", "items": [{
            "type": "card", "title": "Tea", "subtitle": "Green", "imageUrl": "https://example.com/t.png",
            "actions": [
                {"action": "postback", "label": "Order", "value": "order tea"},
                {"action": "url", "label": "More", "value": "https://example.com"}
            ]
        }]}));
        assert_eq!(
            carousel,
            [BotReply {
                text: "Tea\nGreen".into(),
                image: Some("https://example.com/t.png".into()),
                quick_replies: vec![QuickReply::new("Order", "order tea")],
            }]
        );
        assert!(replies_of(&json!({"type": "text", "text": ""})).is_empty());
        assert!(replies_of(&json!({"type": "something new"})).is_empty());
        assert!(replies_of(&json!("not even an object")).is_empty());
    }
}
