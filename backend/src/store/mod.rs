//! Where accepted messages live. The hub stores every message before anyone
//! sees it or its sender gets an ack, and reads back what a reconnecting
//! client missed. [`Store`] hides the engine: SQLite by default, memory for
//! benchmarks of the cost of durability.

mod blocking;
#[cfg(test)]
mod contract;
mod directory;
mod feed;
mod memory;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use thiserror::Error;

pub use blocking::{BlockingDirectory, BlockingStore, OffThread};
pub use directory::{Created, Directory, Membership};
pub use feed::Notice;
pub use memory::MemoryStore;
pub use postgres::{CHANNEL, PostgresStore};
pub use sqlite::SqliteStore;

/// A message to store; the store gives it its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// `group` (the room `general`), `group:<name>` for another group room,
    /// or `user:<id>` for a private conversation.
    pub room: String,
    /// Who wrote it.
    pub author: String,
    /// The text.
    pub body: String,
    /// Anything else a view needs, as JSON.
    pub extra: Option<String>,
    /// The sender's own id; a second draft with the same one in the same room
    /// is not stored again.
    pub client_id: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub sent_at: u64,
    /// For an answer stored in the same batch as the message it answers:
    /// that message's place in the batch (an earlier draft). The answer is
    /// stored only if that message is new, since a resend was answered
    /// when it was first stored, and its extra (a JSON object) gets the key
    /// `answers` set to that message's id. Only on the way in: stored
    /// messages have `None`.
    pub in_answer_to: Option<usize>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The room's id for it: 1, 2, 3, ... in the order of storing.
    pub id: u64,
    /// The draft it was made from.
    pub draft: Draft,
}

/// What became of one draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now.
    New(Stored),
    /// Its client id was already stored: this is that earlier message.
    Duplicate(Stored),
    /// Not stored: it answers a draft of the batch that was not new (see
    /// [`Draft::in_answer_to`]).
    Skipped,
}

impl Appended {
    /// The stored message, new or earlier; `None` when skipped.
    pub fn stored(&self) -> Option<&Stored> {
        match self {
            Self::New(stored) | Self::Duplicate(stored) => Some(stored),
            Self::Skipped => None,
        }
    }
}

/// `draft` as it is to be stored after `earlier`, what became of the drafts
/// before it in its batch: `None` when it answers one that is not new (it
/// is skipped), else with the id of the message it answers in its extra.
pub(crate) fn in_batch(mut draft: Draft, earlier: &[Appended]) -> Option<Draft> {
    let Some(index) = draft.in_answer_to.take() else {
        return Some(draft);
    };
    let Some(Appended::New(question)) = earlier.get(index) else {
        return None;
    };
    let mut extra = draft
        .extra
        .as_deref()
        .and_then(|extra| serde_json::from_str::<serde_json::Value>(extra).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    extra["answers"] = serde_json::json!(question.id);
    draft.extra = Some(extra.to_string());
    Some(draft)
}

/// What a store failed with underneath: the database's own error, a
/// panic, or a closed pool.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why the store failed. Senders are told that their message could not be
/// saved; the details go to the log, and the cause stays reachable as the
/// error's `source()`.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The disk (or the configured size limit) is full.
    #[error("storage full: {0}")]
    Full(#[source] Cause),
    /// The database cannot be written (a read-only file or folder).
    #[error("storage is read-only: {0}")]
    ReadOnly(#[source] Cause),
    /// Anything else the database reported.
    #[error("storage failed: {0}")]
    Failed(#[source] Cause),
}

/// Durable message history, per room, and the [`Directory`] of rooms and people.
#[async_trait]
pub trait Store: Directory + std::fmt::Debug + Send + Sync + 'static {
    /// Stores `drafts` in one durable step, all or none, in order; each gets
    /// the next id of its room. Returns when they would survive a crash.
    async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, StoreError>;

    /// Up to `limit` messages of `room` after id `after`, oldest first.
    async fn after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<Stored>, StoreError>;

    /// The last `limit` messages of `room` before id `before` (before the
    /// end when `None`), oldest first.
    async fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError>;

    /// The id of the room's latest message; 0 when it has none.
    async fn latest_id(&self, room: &str) -> Result<u64, StoreError>;

    /// The latest id of every room whose name starts with `prefix` and that
    /// has messages.
    async fn latest_ids(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError>;

    /// The latest message of every room whose name starts with `prefix`,
    /// where that message is not by `author`, ordered by room: the private
    /// conversations the bot has yet to answer.
    async fn unanswered(&self, prefix: &str, author: &str) -> Result<Vec<Stored>, StoreError>;

    /// What every node stores, as it is committed, and what other nodes
    /// [`relay`](Store::relay), for a store that several nodes share;
    /// `None` when this node is the only writer.
    fn feed(&self) -> Option<tokio::sync::mpsc::Receiver<Notice>> {
        None
    }

    /// Whether several nodes may share this store.
    fn is_shared(&self) -> bool {
        false
    }

    /// For a store several nodes share: says that this node is alive, and
    /// takes over the messages still due the bot's answer whose node
    /// stopped, whose claim is older than `lease`, or (`at_start`) that
    /// this node itself stored before it restarted; they are this node's to
    /// answer now, oldest first per room. `None` for a store of one node,
    /// which looks at start instead ([`Store::unanswered`]).
    async fn take_over_answers(
        &self,
        _at_start: bool,
        _lease: std::time::Duration,
    ) -> Result<Option<Vec<Stored>>, StoreError> {
        Ok(None)
    }

    /// The bot had nothing to say to message `id` of `room`: it is answered.
    async fn settle(&self, _room: &str, _id: u64) -> Result<(), StoreError> {
        Ok(())
    }

    /// Passes `message` to every node's [`feed`](Store::feed) as a
    /// [`Notice::Relayed`], best-effort; nothing with a store of one's own.
    async fn relay(&self, _message: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What every [`Store`] must do about [`Store::unanswered`], checked on each.
#[cfg(test)]
pub(crate) async fn check_unanswered(store: &dyn Store) {
    let line = |room: &str, author: &str, body: &str| Draft {
        room: room.to_owned(),
        author: author.to_owned(),
        body: body.to_owned(),
        extra: None,
        client_id: None,
        sent_at: 1,
        in_answer_to: None,
    };
    store
        .append(vec![
            line("user:ann", "ann", "hello"),
            line("user:bob", "bob", "hi"),
            line("user:bob", "bot", "hi bob"),
            line("user:ann", "bot", "hi ann"),
            line("user:ann", "ann", "are you there?"),
            line("user:cy", "cy", "first"),
            line("user:cy", "cy", "second"),
            line("group", "dee", "not a private room"),
            line("user", "eve", "not a user's room either"),
        ])
        .await
        .unwrap();
    let left: Vec<(String, u64, String)> = store
        .unanswered("user:", "bot")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.draft.room, s.id, s.draft.body))
        .collect();
    assert_eq!(
        left,
        [
            ("user:ann".to_owned(), 3, "are you there?".to_owned()),
            ("user:cy".to_owned(), 2, "second".to_owned()),
        ]
    );
}
