use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::{Appended, Draft, Store, StoreError, Stored};

/// History in memory only: lost when the process ends. For measuring what
/// durability costs, and for running without a disk.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: Mutex<Rooms>,
}

#[derive(Debug, Default)]
struct Rooms {
    messages: HashMap<String, Vec<Stored>>,
    /// (room, client id) → id, so a resend is found without a scan.
    by_client_id: HashMap<(String, String), u64>,
}

impl Store for MemoryStore {
    fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, StoreError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let Rooms {
            messages,
            by_client_id,
        } = &mut *rooms;
        Ok(drafts
            .into_iter()
            .map(|draft| {
                let room = messages.entry(draft.room.clone()).or_default();
                let key = draft.client_id.clone().map(|id| (draft.room.clone(), id));
                if let Some(&id) = key.as_ref().and_then(|key| by_client_id.get(key)) {
                    let index = usize::try_from(id - 1).unwrap_or(usize::MAX);
                    return Appended::Duplicate(room[index].clone());
                }
                let stored = Stored {
                    id: room.len() as u64 + 1,
                    draft,
                };
                if let Some(key) = key {
                    by_client_id.insert(key, stored.id);
                }
                room.push(stored.clone());
                Appended::New(stored)
            })
            .collect())
    }

    fn after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let messages = rooms.messages.get(room).map_or(&[][..], Vec::as_slice);
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(messages.len());
        Ok(messages[start..].iter().take(limit).cloned().collect())
    }

    fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let messages = rooms.messages.get(room).map_or(&[][..], Vec::as_slice);
        let end = before.map_or(messages.len(), |id| {
            usize::try_from(id.saturating_sub(1))
                .unwrap_or(usize::MAX)
                .min(messages.len())
        });
        Ok(messages[end.saturating_sub(limit)..end].to_vec())
    }

    fn latest_id(&self, room: &str) -> Result<u64, StoreError> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(rooms
            .messages
            .get(room)
            .map_or(0, |messages| messages.len() as u64))
    }

    fn unanswered(&self, prefix: &str, author: &str) -> Result<Vec<Stored>, StoreError> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let mut left: Vec<Stored> = rooms
            .messages
            .iter()
            .filter(|(room, _)| room.starts_with(prefix))
            .filter_map(|(_, messages)| messages.last())
            .filter(|latest| latest.draft.author != author)
            .cloned()
            .collect();
        left.sort_by(|a, b| a.draft.room.cmp(&b.draft.room));
        Ok(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(body: &str, client_id: Option<&str>) -> Draft {
        Draft {
            room: "group".to_owned(),
            author: "ann".to_owned(),
            body: body.to_owned(),
            extra: None,
            client_id: client_id.map(str::to_owned),
            sent_at: 1,
        }
    }

    #[test]
    fn finds_the_conversations_left_unanswered() {
        crate::store::check_unanswered(&MemoryStore::default());
    }

    #[test]
    fn behaves_like_the_durable_store() {
        let store = MemoryStore::default();
        let drafts = (1..=5).map(|n| draft(&n.to_string(), Some(&format!("c{n}"))));
        store.append(drafts.collect()).unwrap();
        let again = store.append(vec![draft("3", Some("c3"))]).unwrap();
        assert!(matches!(&again[0], Appended::Duplicate(s) if s.id == 3));
        let ids = |messages: Vec<Stored>| messages.into_iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(store.before("group", None, 2).unwrap()), [4, 5]);
        assert_eq!(ids(store.before("group", Some(4), 2).unwrap()), [2, 3]);
        assert_eq!(ids(store.after("group", 3, 10).unwrap()), [4, 5]);
        assert_eq!(store.latest_id("group").unwrap(), 5);
    }
}
