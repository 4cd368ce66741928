use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::blocking::{BlockingDirectory, BlockingStore};
use super::directory::{Created, Membership};
use super::{Appended, Draft, StoreError, Stored};

/// History in memory only: lost when the process ends. For measuring what
/// durability costs, and for running without a disk.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rooms: Mutex<Rooms>,
    directory: Mutex<Names>,
}

/// Rooms, memberships and names.
#[derive(Debug, Default)]
struct Names {
    rooms: std::collections::BTreeSet<String>,
    /// user → room → last read.
    memberships: HashMap<String, std::collections::BTreeMap<String, u64>>,
    names: HashMap<String, String>,
    engine_sessions: HashMap<String, String>,
}

impl MemoryStore {
    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl BlockingDirectory for MemoryStore {
    fn create_room(&self, name: &str, max_rooms: usize, _at: u64) -> Result<Created, StoreError> {
        let mut names = self.names();
        Ok(if names.rooms.contains(name) {
            Created::Existing
        } else if names.rooms.len() >= max_rooms {
            Created::Full
        } else {
            names.rooms.insert(name.to_owned());
            Created::New
        })
    }

    fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.names().rooms.contains(name))
    }

    fn join_room(
        &self,
        user: &str,
        room: &str,
        max_rooms: usize,
    ) -> Result<Membership, StoreError> {
        let mut names = self.names();
        let rooms = names.memberships.entry(user.to_owned()).or_default();
        Ok(match rooms.get(room) {
            Some(&last_read) => Membership::Member { last_read },
            None if rooms.len() >= max_rooms => Membership::Full,
            None => {
                rooms.insert(room.to_owned(), 0);
                Membership::Member { last_read: 0 }
            }
        })
    }

    fn leave_room(&self, user: &str, room: &str) -> Result<(), StoreError> {
        if let Some(rooms) = self.names().memberships.get_mut(user) {
            rooms.remove(room);
        }
        Ok(())
    }

    fn memberships(&self, user: &str) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self
            .names()
            .memberships
            .get(user)
            .map_or_else(Vec::new, |rooms| {
                rooms
                    .iter()
                    .map(|(room, &read)| (room.clone(), read))
                    .collect()
            }))
    }

    fn mark_read(&self, user: &str, room: &str, id: u64) -> Result<bool, StoreError> {
        let mut names = self.names();
        let read = names
            .memberships
            .get_mut(user)
            .and_then(|rooms| rooms.get_mut(room));
        Ok(read.map(|read| *read = (*read).max(id)).is_some())
    }

    fn name(&self, user: &str) -> Result<Option<String>, StoreError> {
        Ok(self.names().names.get(user).cloned())
    }

    fn set_name(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.names().names.insert(user.to_owned(), name.to_owned());
        Ok(())
    }

    fn engine_session(&self, conversation: &str) -> Result<Option<String>, StoreError> {
        Ok(self.names().engine_sessions.get(conversation).cloned())
    }

    fn set_engine_session(
        &self,
        conversation: &str,
        state: Option<&str>,
    ) -> Result<(), StoreError> {
        let sessions = &mut self.names().engine_sessions;
        match state {
            Some(state) => sessions.insert(conversation.to_owned(), state.to_owned()),
            None => sessions.remove(conversation),
        };
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Rooms {
    messages: HashMap<String, Vec<Stored>>,
    /// (room, client id) → id, so a resend is found without a scan.
    by_client_id: HashMap<(String, String), u64>,
}

impl BlockingStore for MemoryStore {
    fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, StoreError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let Rooms {
            messages,
            by_client_id,
        } = &mut *rooms;
        let mut appended = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let Some(draft) = super::in_batch(draft, &appended) else {
                appended.push(Appended::Skipped);
                continue;
            };
            let room = messages.entry(draft.room.clone()).or_default();
            let key = draft.client_id.clone().map(|id| (draft.room.clone(), id));
            if let Some(&id) = key.as_ref().and_then(|key| by_client_id.get(key)) {
                let index = usize::try_from(id - 1).unwrap_or(usize::MAX);
                appended.push(Appended::Duplicate(room[index].clone()));
                continue;
            }
            let stored = Stored {
                id: room.len() as u64 + 1,
                draft,
            };
            if let Some(key) = key {
                by_client_id.insert(key, stored.id);
            }
            room.push(stored.clone());
            appended.push(Appended::New(stored));
        }
        Ok(appended)
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

    fn latest_ids(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(rooms
            .messages
            .iter()
            .filter(|(room, _)| room.starts_with(prefix))
            .map(|(room, messages)| (room.clone(), messages.len() as u64))
            .collect())
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
    use crate::store::OffThread;

    fn draft(body: &str, client_id: Option<&str>) -> Draft {
        Draft {
            room: "group".to_owned(),
            author: "ann".to_owned(),
            body: body.to_owned(),
            extra: None,
            client_id: client_id.map(str::to_owned),
            sent_at: 1,
            in_answer_to: None,
        }
    }

    #[tokio::test]
    async fn keeps_the_store_contract() {
        crate::store::contract::check(&OffThread::new(MemoryStore::default())).await;
    }

    #[tokio::test]
    async fn finds_the_conversations_left_unanswered() {
        crate::store::check_unanswered(&OffThread::new(MemoryStore::default())).await;
    }

    #[tokio::test]
    async fn keeps_rooms_memberships_and_names() {
        crate::store::directory::check_directory(&OffThread::new(MemoryStore::default())).await;
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
