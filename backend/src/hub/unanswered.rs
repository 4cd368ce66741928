//! Group messages a crash left without the bot's answer: stored and
//! broadcast, but the server stopped before the answer was stored. Read once
//! at start, before connections are taken, and asked again, once each.
//!
//! Each bot reply records the message it answers (`answers`), so a message
//! is answered when a reply points at it. Only recent messages count: those
//! of a room's last [`WINDOW`] sent within [`RECENT_ENOUGH`] of the start,
//! after the first one answered in that window (before it, the history may
//! be older than these records).

use std::collections::HashSet;
use std::time::Duration;

use shared::{BOT_NAME, ChatMessage, Timestamp};

use super::conversation::GROUP;
use super::history::{Extra, chat_message};
use crate::store::{Store, StoreError};

/// How many of a room's latest messages are looked at.
const WINDOW: usize = 100;

/// How old a message may be and still be answered after a restart: an
/// answer to something said long ago would be noise.
const RECENT_ENOUGH: Duration = Duration::from_secs(10 * 60);

/// The group messages left unanswered, oldest first in each room.
pub(super) async fn group(store: &dyn Store, now: Timestamp) -> Vec<ChatMessage> {
    match read(store, now).await {
        Ok(left) => left,
        Err(error) => {
            tracing::error!(%error, "cannot look for unanswered group messages");
            Vec::new()
        }
    }
}

async fn read(store: &dyn Store, now: Timestamp) -> Result<Vec<ChatMessage>, StoreError> {
    let since = now.0.saturating_sub(RECENT_ENOUGH.as_millis() as u64);
    let mut left = Vec::new();
    for (room, _) in store.latest_ids(GROUP).await? {
        let recent = store.before(&room, None, WINDOW).await?;
        let answered: HashSet<u64> = recent
            .iter()
            .filter(|stored| stored.draft.author == BOT_NAME)
            .filter_map(|stored| Extra::of(stored).answers)
            .collect();
        let Some(&first) = answered.iter().min() else {
            continue;
        };
        left.extend(
            recent
                .iter()
                .filter(|stored| stored.id > first && stored.draft.author != BOT_NAME)
                .filter(|stored| stored.draft.sent_at >= since && !answered.contains(&stored.id))
                .map(chat_message),
        );
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Draft, MemoryStore, OffThread};

    fn line(room: &str, author: &str, extra: Option<String>, sent_at: u64) -> Draft {
        Draft {
            room: room.to_owned(),
            author: author.to_owned(),
            body: format!("{author} at {sent_at}"),
            extra,
            client_id: None,
            sent_at,
            in_answer_to: None,
        }
    }

    fn answer(id: u64) -> Option<String> {
        Some(format!("{{\"answers\":{id}}}"))
    }

    #[tokio::test]
    async fn finds_recent_messages_no_reply_points_at() {
        let store = OffThread::new(MemoryStore::default());
        let now = 1_000_000_000;
        store
            .append(vec![
                line("group", "old", None, now - 2_000_000),
                line("group", "ann", None, now - 100),
                line("group", BOT_NAME, answer(2), now - 90),
                line("group", "bob", None, now - 80),
                line("group", "cy", None, now - 70),
                line("group", BOT_NAME, answer(5), now - 60),
                line("group:dev", "dee", None, now - 50),
                line("group:dev", BOT_NAME, answer(1), now - 40),
                line("group:dev", "eve", None, now - 30),
                line("group:ops", "fay", None, now - 20),
                line("user:ann", "ann", None, now - 10),
            ])
            .await
            .unwrap();
        let mut left: Vec<(String, u64)> = group(&store, Timestamp(now))
            .await
            .into_iter()
            .map(|m| (m.room.to_string(), m.id.0))
            .collect();
        left.sort();
        // bob in general, eve in dev; not `old` (before the first answered,
        // and long ago), not fay (a room with no answer recorded yet), not
        // the private conversation.
        assert_eq!(left, [("dev".to_owned(), 3), ("general".to_owned(), 4)]);
    }

    #[tokio::test]
    async fn messages_from_long_ago_are_left_alone() {
        let store = OffThread::new(MemoryStore::default());
        let now = 1_000_000_000;
        store
            .append(vec![
                line("group", "ann", None, now - 3_000_000),
                line("group", BOT_NAME, answer(1), now - 3_000_000),
                line("group", "bob", None, now - 2_000_000),
            ])
            .await
            .unwrap();
        assert!(group(&store, Timestamp(now)).await.is_empty());
    }
}
