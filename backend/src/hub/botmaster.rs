//! Botmaster mode: one-to-one conversations between a user and the bot,
//! with the wire format of Botmaster's socket.io channel, so its original
//! `client_app.js` works unchanged. Every socket of a user is in that user's
//! room; the bot's replies reach all of them, and nobody else.

use serde_json::{Value, json};
use shared::events::{BOTMASTER_ECHO, BOTMASTER_MESSAGE, CHAT_ERROR};
use shared::{ChatError, ErrorCode, MessageBody};
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, State, TryData};

use super::Hub;
use crate::identity::UserId;

/// The room of all of `user`'s sockets.
pub(super) fn room(user: &UserId) -> String {
    format!("user:{}", user.as_str())
}

/// Joins `socket` to its user's room and listens for Botmaster messages.
pub(super) fn attach(socket: &SocketRef, user: UserId) {
    socket.join(room(&user));
    socket.on(
        BOTMASTER_MESSAGE,
        move |socket: SocketRef,
              io: SocketIo,
              State(hub): State<Hub>,
              TryData(data): TryData<Value>| {
            let user = user.clone();
            async move {
                match text_of(data.ok()) {
                    Ok(text) => converse(&socket, &io, &hub, &user, text).await,
                    Err(error) => {
                        let _ = socket.emit(CHAT_ERROR, &error);
                    }
                }
            }
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

async fn converse(socket: &SocketRef, io: &SocketIo, hub: &Hub, user: &UserId, text: MessageBody) {
    let echo = json!({"sender": {"id": user.as_str()}, "message": {"text": text.as_str()}});
    // The user's other tabs show what was said here; this one already does.
    if let Err(error) = socket
        .to(room(user))
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
