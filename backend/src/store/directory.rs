//! What the store keeps besides messages: the group rooms, the rooms each
//! user is in with how far they have read them, each user's display name,
//! and what bot engines keep per conversation.

use async_trait::async_trait;

use super::StoreError;

/// What became of a request to create a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// It is new.
    New,
    /// It existed already.
    Existing,
    /// It did not exist, and the server holds as many rooms as it may.
    Full,
}

/// What became of a request to join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The user is in the room, having read up to this id.
    Member {
        /// The last message read; 0 for none.
        last_read: u64,
    },
    /// The user is in as many rooms as one user may.
    Full,
}

/// Rooms, memberships and names. Room names are [`shared::RoomName`]s;
/// `general` is never created, since it always exists.
#[async_trait]
pub trait Directory {
    /// Creates room `name` unless it exists or `max_rooms` exist already.
    async fn create_room(
        &self,
        name: &str,
        max_rooms: usize,
        at: u64,
    ) -> Result<Created, StoreError>;

    /// Whether room `name` was created.
    async fn room_exists(&self, name: &str) -> Result<bool, StoreError>;

    /// Puts `user` in `room` (keeping the read position when already in),
    /// unless the user is in `max_rooms` rooms already.
    async fn join_room(
        &self,
        user: &str,
        room: &str,
        max_rooms: usize,
    ) -> Result<Membership, StoreError>;

    /// Takes `user` out of `room`.
    async fn leave_room(&self, user: &str, room: &str) -> Result<(), StoreError>;

    /// The rooms `user` is in and how far they have read each, by name.
    async fn memberships(&self, user: &str) -> Result<Vec<(String, u64)>, StoreError>;

    /// Moves `user`'s read position in `room` up to `id` (never back).
    /// Returns whether the user is in the room.
    async fn mark_read(&self, user: &str, room: &str, id: u64) -> Result<bool, StoreError>;

    /// `user`'s display name, once chosen.
    async fn name(&self, user: &str) -> Result<Option<String>, StoreError>;

    /// Sets `user`'s display name.
    async fn set_name(&self, user: &str, name: &str) -> Result<(), StoreError>;

    /// What a bot engine keeps for `conversation` (`<engine>:<conversation>`),
    /// once it has kept something.
    async fn engine_session(&self, conversation: &str) -> Result<Option<String>, StoreError>;

    /// Keeps `state` for `conversation`, or forgets it with `None`.
    async fn set_engine_session(
        &self,
        conversation: &str,
        state: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// What every [`Directory`] must do, checked on each.
#[cfg(test)]
pub(crate) async fn check_directory(store: &dyn Directory) {
    assert_eq!(store.create_room("dev", 2, 1).await.unwrap(), Created::New);
    assert_eq!(
        store.create_room("dev", 2, 2).await.unwrap(),
        Created::Existing
    );
    assert_eq!(store.create_room("ops", 2, 3).await.unwrap(), Created::New);
    assert_eq!(store.create_room("art", 2, 4).await.unwrap(), Created::Full);
    assert!(store.room_exists("ops").await.unwrap());
    assert!(!store.room_exists("art").await.unwrap());

    assert_eq!(
        store.join_room("ann", "dev", 2).await.unwrap(),
        Membership::Member { last_read: 0 }
    );
    assert!(store.mark_read("ann", "dev", 7).await.unwrap());
    assert!(
        store.mark_read("ann", "dev", 3).await.unwrap(),
        "never back, but a member"
    );
    assert!(!store.mark_read("ann", "ops", 3).await.unwrap());
    assert_eq!(
        store.join_room("ann", "dev", 2).await.unwrap(),
        Membership::Member { last_read: 7 }
    );
    store.join_room("ann", "general", 2).await.unwrap();
    assert_eq!(
        store.join_room("ann", "ops", 2).await.unwrap(),
        Membership::Full
    );
    assert_eq!(
        store.memberships("ann").await.unwrap(),
        [("dev".to_owned(), 7), ("general".to_owned(), 0)]
    );
    store.leave_room("ann", "dev").await.unwrap();
    assert_eq!(
        store.memberships("ann").await.unwrap(),
        [("general".to_owned(), 0)]
    );
    assert!(store.memberships("bob").await.unwrap().is_empty());

    assert_eq!(store.name("ann").await.unwrap(), None);
    store.set_name("ann", "Ann").await.unwrap();
    store.set_name("ann", "Ann B").await.unwrap();
    assert_eq!(store.name("ann").await.unwrap().as_deref(), Some("Ann B"));

    let key = "botpress:group:general";
    assert_eq!(store.engine_session(key).await.unwrap(), None);
    store
        .set_engine_session(key, Some("{\"a\":1}"))
        .await
        .unwrap();
    store
        .set_engine_session(key, Some("{\"a\":2}"))
        .await
        .unwrap();
    store
        .set_engine_session("botpress:user:x", Some("{}"))
        .await
        .unwrap();
    assert_eq!(
        store.engine_session(key).await.unwrap().as_deref(),
        Some("{\"a\":2}")
    );
    store.set_engine_session(key, None).await.unwrap();
    assert_eq!(store.engine_session(key).await.unwrap(), None);
    assert_eq!(
        store
            .engine_session("botpress:user:x")
            .await
            .unwrap()
            .as_deref(),
        Some("{}")
    );
}
