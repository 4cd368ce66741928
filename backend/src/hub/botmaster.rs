//! Botmaster mode: one-to-one conversations between a user and the bot,
//! with the wire format of Botmaster's socket.io channel, so its original
//! `client_app.js` works unchanged. Every socket of a user is in that user's
//! room; the bot's replies reach all of them, and nobody else.

use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde_json::{Value, json};
use shared::events::{BOTMASTER_ECHO, BOTMASTER_MESSAGE, CHAT_ERROR};
use shared::{ChatError, ErrorCode, MessageBody};
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::socket::Sid;
use tokio::sync::mpsc;

use super::Hub;
use super::rate_limit::TokenBucket;
use super::refusal::Refusal;
use crate::identity::UserId;

/// The room of all of `user`'s sockets.
pub(super) fn room(user: &UserId) -> String {
    format!("user:{}", user.as_str())
}

/// Joins `socket` to its user's room and listens for Botmaster messages.
/// They are answered one after another, in the order the socket sent them,
/// by a task that ends when the socket is gone; `bucket` is the socket's
/// rate limit, shared with the group chat.
pub(super) fn attach(
    socket: &SocketRef,
    io: SocketIo,
    hub: Hub,
    user: UserId,
    bucket: Arc<Mutex<TokenBucket>>,
) {
    let sid = socket.id;
    // A room of its own lets the worker leave this socket out of the echo
    // without holding the socket (which would keep it alive forever).
    socket.join([room(&user), sid.to_string()]);
    let (queue, mut pending) = mpsc::unbounded_channel::<MessageBody>();
    tokio::spawn(async move {
        while let Some(text) = pending.recv().await {
            converse(&io, &hub, &user, sid, text).await;
        }
    });
    // Like the group chat's handler, it does its work before returning, so
    // messages are queued in the order they arrived.
    socket.on(
        BOTMASTER_MESSAGE,
        move |socket: SocketRef, TryData(data): TryData<Value>| -> Ready<()> {
            let allowed = || {
                bucket
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .try_take(Instant::now())
            };
            let verdict = text_of(data.ok()).and_then(|text| {
                if allowed() {
                    Ok(text)
                } else {
                    Err(ChatError::from(&Refusal::RateLimited))
                }
            });
            match verdict {
                Ok(text) => {
                    // The worker only stops when this handler is dropped with the socket.
                    let _ = queue.send(text);
                }
                Err(error) => {
                    let _ = socket.emit(CHAT_ERROR, &error);
                }
            }
            ready(())
        },
    );
}

/// The text of a Botmaster message: a JSON string `{"text": ...}` as
/// Botmaster's client sends it, or the object itself.
fn text_of(data: Option<Value>) -> Result<MessageBody, ChatError> {
    let malformed = || ChatError {
        code: ErrorCode::Malformed,
        message: "A Botmaster message is a JSON object with a text field".to_owned(),
    };
    let object = match data {
        Some(Value::String(json)) => serde_json::from_str(&json).map_err(|_| malformed())?,
        Some(object @ Value::Object(_)) => object,
        _ => return Err(malformed()),
    };
    let text = object
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(malformed)?;
    MessageBody::parse(text).map_err(ChatError::from)
}

async fn converse(io: &SocketIo, hub: &Hub, user: &UserId, sender: Sid, text: MessageBody) {
    let echo = json!({"sender": {"id": user.as_str()}, "message": {"text": text.as_str()}});
    // The user's other tabs show what was said; the sending tab already does.
    if let Err(error) = io
        .to(room(user))
        .except(sender)
        .emit(BOTMASTER_ECHO, &echo.to_string())
        .await
    {
        tracing::debug!(%error, "Botmaster echo incomplete");
    }
    let replies = crate::bot::ask(
        hub.bot.as_ref(),
        hub.bot_timeout,
        user.as_str(),
        text.as_str(),
    )
    .await;
    for reply in replies {
        let update = json!({"recipient": {"id": user.as_str()}, "message": {"text": reply}});
        if let Err(error) = io
            .to(room(user))
            .emit(BOTMASTER_MESSAGE, &update.to_string())
            .await
        {
            tracing::debug!(%error, "Botmaster reply incomplete");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn botmasters_json_string_and_plain_objects_are_read() {
        let text = text_of(Some(json!("{\"text\":\"Hey there botmaster!\"}"))).unwrap();
        assert_eq!(text.as_str(), "Hey there botmaster!");
        assert_eq!(
            text_of(Some(json!({"text": " hi "}))).unwrap().as_str(),
            "hi"
        );
    }

    #[test]
    fn anything_else_is_a_clear_error() {
        for data in [
            None,
            Some(json!(1)),
            Some(json!("not json")),
            Some(json!({"txt": "x"})),
            Some(json!("{\"text\":5}")),
        ] {
            assert_eq!(
                text_of(data.clone()).unwrap_err().code,
                ErrorCode::Malformed,
                "{data:?}"
            );
        }
        assert_eq!(
            text_of(Some(json!({"text": "  "}))).unwrap_err().code,
            ErrorCode::Invalid
        );
    }
}
