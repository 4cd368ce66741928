//! The group rooms' history as clients get it: what a socket entering a
//! room missed (or the latest page), older pages, and how a stored message
//! becomes the [`ChatMessage`] clients see, behind one async facade,
//! [`History`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use shared::{ChatMessage, ClientMessageId, MessageBody, MessageId, RoomName, Timestamp, UserName};
use thiserror::Error;

use super::conversation::{Conversation, room_key};
use crate::store::{Store, StoreError, Stored};

/// Reads of the group rooms' history. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub(crate) struct History {
    store: Arc<dyn Store>,
}

impl History {
    /// History read from `store`.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// What a socket entering a room should get (see [`PageKey`]), read
    /// and encoded; `last` again when it is the same page, and `last` from
    /// now on when it is not.
    pub(crate) async fn page(
        &self,
        key: PageKey,
        last: &mut Option<EncodedPage>,
    ) -> Result<EncodedPage, PageError> {
        if let Some(last) = last.as_ref().filter(|last| last.key == key) {
            return Ok(last.clone());
        }
        // A client that is not catching up gets the latest page whatever its
        // last id: `from` stands for it.
        let history = missed(self.store.as_ref(), &key.room, key.from, key.published).await?;
        let json = Arc::from(serde_json::value::to_raw_value(&history)?);
        let page = EncodedPage {
            key,
            messages: history.messages.len(),
            json,
        };
        *last = Some(page.clone());
        Ok(page)
    }

    /// The page of `room` before message `before` (see [`recent`]).
    pub(crate) async fn before(
        &self,
        room: RoomName,
        before: u64,
    ) -> Result<shared::History, StoreError> {
        recent(self.store.as_ref(), &room, before).await
    }
}

/// How many recent messages a fresh client gets.
pub(crate) const RECENT: usize = 100;

/// A client further behind than this gets the recent messages instead of
/// everything it missed.
const MAX_CATCH_UP: usize = 1000;

/// Most bytes of message text (names and bodies) in one page of history,
/// so a page is one bounded packet whatever the messages are: a client
/// further behind than this gets the latest page and pages back with
/// `older`.
pub(crate) const PAGE_BYTES: usize = 128 * 1024;

/// What a message adds to a page besides its name and body: the JSON keys,
/// id, time and client id.
const MESSAGE_OVERHEAD_BYTES: usize = 128;

/// What a client with messages up to `last_id` should get, of the messages
/// published so far (up to id `published`; later ones it gets live).
async fn missed(
    store: &dyn Store,
    room: &RoomName,
    last_id: Option<u64>,
    published: u64,
) -> Result<shared::History, StoreError> {
    if let Some(last_id) = catching_up_from(last_id, published) {
        let limit = usize::try_from(published - last_id).unwrap_or(MAX_CATCH_UP);
        let messages = store.after(&room_key(room), last_id, limit).await?;
        if page_bytes(&messages) <= PAGE_BYTES {
            return Ok(shared::History {
                room: room.clone(),
                messages: messages.iter().map(chat_message).collect(),
                reset: false,
                more: false,
            });
        }
    }
    // Fresh, too far behind (in messages or in bytes), or from before the
    // history was wiped: the latest published, replacing whatever the
    // client had; it pages back with `older`.
    let mut history = recent(store, room, published + 1).await?;
    history.reset = true;
    Ok(history)
}

/// `last_id`, if a client with messages up to it may get everything it
/// missed of the messages up to `published`: it has messages, not from
/// before the history was wiped, and is at most [`MAX_CATCH_UP`] behind.
fn catching_up_from(last_id: Option<u64>, published: u64) -> Option<u64> {
    last_id.filter(|&id| id <= published && published - id <= MAX_CATCH_UP as u64)
}

/// Which page of history a socket entering a room gets: sockets with the
/// same key get the same page, so it is read and encoded once for all of
/// them. Many sockets enter at once after a restart or a network blip, most
/// fresh or far behind (the latest page), or up to date (an empty one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageKey {
    room: RoomName,
    /// Where the page starts: the client's last id when it catches up,
    /// `None` for the latest page.
    from: Option<u64>,
    published: u64,
}

impl PageKey {
    /// The page of `room` for a client with messages up to `last_id`, of
    /// the messages up to `published`.
    pub(crate) fn new(room: &RoomName, last_id: Option<u64>, published: u64) -> Self {
        Self {
            room: room.clone(),
            from: catching_up_from(last_id, published),
            published,
        }
    }
}

/// A page of history encoded once, for every socket that gets it.
#[derive(Debug, Clone)]
pub(crate) struct EncodedPage {
    /// Which page it is.
    pub(crate) key: PageKey,
    /// How many messages it holds.
    pub(crate) messages: usize,
    /// The page as JSON, shared by every socket sent it.
    pub(crate) json: Arc<RawValue>,
}

/// Why a page could not be had.
#[derive(Debug, Error)]
pub(crate) enum PageError {
    /// It could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// It could not be encoded.
    #[error("cannot encode a page of history: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Up to [`RECENT`] messages of `room` before id `before`, oldest first, the
/// oldest left out where they would make the page bigger than [`PAGE_BYTES`].
async fn recent(
    store: &dyn Store,
    room: &RoomName,
    before: u64,
) -> Result<shared::History, StoreError> {
    let mut messages = store.before(&room_key(room), Some(before), RECENT).await?;
    keep_latest_page(&mut messages);
    let more = messages.first().is_some_and(|first| first.id > 1);
    Ok(shared::History {
        room: room.clone(),
        messages: messages.iter().map(chat_message).collect(),
        reset: false,
        more,
    })
}

/// The bytes `messages` add to a page of history, roughly.
fn page_bytes(messages: &[Stored]) -> usize {
    messages.iter().map(message_bytes).sum()
}

fn message_bytes(stored: &Stored) -> usize {
    stored.draft.author.len()
        + stored.draft.body.len()
        + stored.draft.extra.as_ref().map_or(0, String::len)
        + MESSAGE_OVERHEAD_BYTES
}

/// Drops the oldest of `messages` (oldest first) until they fit in a page;
/// the latest one is always kept.
pub(crate) fn keep_latest_page(messages: &mut Vec<Stored>) {
    let mut bytes = 0;
    let fitting = messages
        .iter()
        .rev()
        .take_while(|stored| {
            bytes += message_bytes(stored);
            bytes <= PAGE_BYTES
        })
        .count()
        .max(1);
    let drop = messages.len().saturating_sub(fitting);
    messages.drain(..drop);
}

/// A stored group message as clients see it.
pub(crate) fn chat_message(stored: &Stored) -> ChatMessage {
    let draft = &stored.draft;
    let extra = Extra::of(stored);
    ChatMessage {
        id: MessageId(stored.id),
        // Stored names passed validation (or are the bot's) when they were accepted.
        user: UserName::from_store(draft.author.clone()),
        body: MessageBody::from_store(draft.body.clone()),
        sent_at: Timestamp(draft.sent_at),
        client_id: draft
            .client_id
            .as_deref()
            .and_then(|id| ClientMessageId::parse(id).ok()),
        room: match Conversation::from_key(&draft.room) {
            Some(Conversation::Room(room)) => room,
            _ => shared::RoomName::general(),
        },
        user_id: extra.user_id,
        answers: extra.answers.map(MessageId),
    }
}

/// What a group message keeps beside its name and body, as JSON in the
/// draft's `extra`: a person's session user, or the message a bot reply
/// answers.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Extra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) answers: Option<u64>,
}

impl Extra {
    pub(crate) fn author(user_id: &str) -> String {
        serde_json::json!({"user_id": user_id}).to_string()
    }

    pub(crate) fn answer(id: u64) -> String {
        serde_json::json!({"answers": id}).to_string()
    }

    /// What `stored` keeps, if anything.
    pub(crate) fn of(stored: &Stored) -> Self {
        stored
            .draft
            .extra
            .as_deref()
            .and_then(|extra| serde_json::from_str(extra).ok())
            .unwrap_or_default()
    }
}

/// The time to stamp on a message.
pub(crate) fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}
