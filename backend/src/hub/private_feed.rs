//! How a stored line of a private conversation goes out to the user's tabs
//! on this node, in the shape the user speaks: the user's words as
//! `usermessage` (our page) and `own message` (Botmaster's clients) to
//! every tab but the one that said them, the bot's as `message`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use shared::events::{BOTMASTER_ECHO, BOTMASTER_MESSAGE, BOTMASTER_OWN_MESSAGE};
use shared::{BotHistoryEntry, BotmasterMessage, BotmasterUpdate, Recipient};
use socketioxide::SocketIo;
use socketioxide::socket::Sid;

use super::conversation::{PRIVATE, private_key};
use super::dialect::{Dialects, encode};
use crate::identity::UserId;
use crate::store::Stored;

/// The key, in a bot line's stored extra, of the stream it completes.
pub(super) const STREAM_ID: &str = "stream_id";

/// The key, in a bot line's stored extra, of the line it answers (as a
/// group room's bot replies have it; the store settles that line).
pub(super) const ANSWERS: &str = "answers";

/// Where a user's line was said, when it was said on this node.
#[derive(Debug)]
pub(super) struct Origin {
    /// The socket that said it, which shows it already.
    pub(super) sender: Sid,
    /// The payload exactly as it was sent, for Botmaster's `own message`.
    pub(super) raw: Value,
}

/// Where the lines being said on this node were said, by room (a store
/// key) and client id, known before they are stored: the publishing stage
/// may read a line from the store (a resync) before its handoff arrives,
/// and must still leave out the tab that said it. A cheap `Clone` handle.
#[derive(Debug, Clone, Default)]
pub(super) struct Saying(Arc<Mutex<HashMap<(String, String), Origin>>>);

impl Saying {
    /// The line with `client_id` in `room`, about to be stored, is said at `origin`.
    pub(super) fn insert(&self, room: &str, client_id: &str, origin: Origin) {
        self.lines()
            .insert((room.to_owned(), client_id.to_owned()), origin);
    }

    /// Where the line of `room` with `client_id` was said, if on this node
    /// and not taken yet.
    pub(super) fn take(&self, room: &str, client_id: &str) -> Option<Origin> {
        self.lines()
            .remove(&(room.to_owned(), client_id.to_owned()))
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Origin>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A stored line as the private conversation's history lists it.
pub(super) fn entry(stored: &Stored) -> BotHistoryEntry {
    let from_bot = stored.draft.author == shared::BOT_NAME;
    let message = stored
        .draft
        .extra
        .as_deref()
        .and_then(|extra| serde_json::from_str(extra).ok())
        .unwrap_or_else(|| BotmasterMessage {
            text: stored.draft.body.clone(),
            ..BotmasterMessage::default()
        });
    BotHistoryEntry {
        id: stored.id,
        from_bot,
        message,
        client_id: stored.draft.client_id.clone(),
        timestamp: Some(stored.draft.sent_at),
    }
}

/// Sends `stored`, a line of a private conversation, to the user's tabs on
/// this node; `origin` when it was said here.
pub(super) async fn send_out(
    io: &SocketIo,
    dialects: &Dialects,
    stored: &Stored,
    origin: Option<Origin>,
) {
    let Some(user) = stored
        .draft
        .room
        .strip_prefix(PRIVATE)
        .and_then(|id| UserId::parse(id).ok())
    else {
        return;
    };
    let shape = dialects.of(&user);
    let room = private_key(&user);
    let entry = entry(stored);
    if entry.from_bot {
        let stream_id = stored
            .draft
            .extra
            .as_deref()
            .and_then(|extra| serde_json::from_str::<Value>(extra).ok())
            .and_then(|extra| extra.get(STREAM_ID).and_then(Value::as_u64));
        let update = BotmasterUpdate {
            recipient: Recipient {
                id: user.as_str().to_owned(),
            },
            message: entry.message,
            // The first reply completes what was streamed, replacing it.
            stream_id,
            id: Some(entry.id),
            client_id: None,
            timestamp: entry.timestamp,
        };
        if let Err(error) = io
            .to(room)
            .emit(BOTMASTER_MESSAGE, &encode(&update, shape))
            .await
        {
            tracing::debug!(%error, "Botmaster reply incomplete");
        }
        return;
    }
    let mut echo = json!({
        "sender": {"id": user.as_str()},
        "message": {"text": entry.message.text},
        "id": entry.id,
        "timestamp": stored.draft.sent_at,
    });
    if let Some(client_id) = &entry.client_id {
        echo["client_id"] = json!(client_id);
    }
    // Said on another node, the payload is gone: the text, in the shape
    // this user speaks, stands for it.
    let (sender, raw) = match origin {
        Some(Origin { sender, raw }) => (Some(sender), raw),
        None => (None, encode(&echo["message"], shape)),
    };
    let others = || match sender {
        Some(sender) => io.to(room.clone()).except(sender),
        None => io.to(room.clone()),
    };
    if let Err(error) = others().emit(BOTMASTER_ECHO, &encode(&echo, shape)).await {
        tracing::debug!(%error, "Botmaster echo incomplete");
    }
    if let Err(error) = others().emit(BOTMASTER_OWN_MESSAGE, &raw).await {
        tracing::debug!(%error, "Botmaster own message incomplete");
    }
}
