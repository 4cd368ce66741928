//! What the store keeps besides messages: the group rooms, the rooms each
//! user is in with how far they have read them, and each user's display name.

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
pub trait Directory {
    /// Creates room `name` unless it exists or `max_rooms` exist already.
    fn create_room(&self, name: &str, max_rooms: usize, at: u64) -> Result<Created, StoreError>;

    /// Whether room `name` was created.
    fn room_exists(&self, name: &str) -> Result<bool, StoreError>;

    /// Puts `user` in `room` (keeping the read position when already in),
    /// unless the user is in `max_rooms` rooms already.
    fn join_room(&self, user: &str, room: &str, max_rooms: usize)
    -> Result<Membership, StoreError>;

    /// Takes `user` out of `room`.
    fn leave_room(&self, user: &str, room: &str) -> Result<(), StoreError>;

    /// The rooms `user` is in and how far they have read each, by name.
    fn memberships(&self, user: &str) -> Result<Vec<(String, u64)>, StoreError>;

    /// Moves `user`'s read position in `room` up to `id` (never back).
    /// Returns whether the user is in the room.
    fn mark_read(&self, user: &str, room: &str, id: u64) -> Result<bool, StoreError>;

    /// `user`'s display name, once chosen.
    fn name(&self, user: &str) -> Result<Option<String>, StoreError>;

    /// Sets `user`'s display name.
    fn set_name(&self, user: &str, name: &str) -> Result<(), StoreError>;
}

/// What every [`Directory`] must do, checked on each.
#[cfg(test)]
pub(crate) fn check_directory(store: &dyn Directory) {
    assert_eq!(store.create_room("dev", 2, 1).unwrap(), Created::New);
    assert_eq!(store.create_room("dev", 2, 2).unwrap(), Created::Existing);
    assert_eq!(store.create_room("ops", 2, 3).unwrap(), Created::New);
    assert_eq!(store.create_room("art", 2, 4).unwrap(), Created::Full);
    assert!(store.room_exists("ops").unwrap());
    assert!(!store.room_exists("art").unwrap());

    assert_eq!(
        store.join_room("ann", "dev", 2).unwrap(),
        Membership::Member { last_read: 0 }
    );
    assert!(store.mark_read("ann", "dev", 7).unwrap());
    assert!(
        store.mark_read("ann", "dev", 3).unwrap(),
        "never back, but a member"
    );
    assert!(!store.mark_read("ann", "ops", 3).unwrap());
    assert_eq!(
        store.join_room("ann", "dev", 2).unwrap(),
        Membership::Member { last_read: 7 }
    );
    store.join_room("ann", "general", 2).unwrap();
    assert_eq!(store.join_room("ann", "ops", 2).unwrap(), Membership::Full);
    assert_eq!(
        store.memberships("ann").unwrap(),
        [("dev".to_owned(), 7), ("general".to_owned(), 0)]
    );
    store.leave_room("ann", "dev").unwrap();
    assert_eq!(
        store.memberships("ann").unwrap(),
        [("general".to_owned(), 0)]
    );
    assert!(store.memberships("bob").unwrap().is_empty());

    assert_eq!(store.name("ann").unwrap(), None);
    store.set_name("ann", "Ann").unwrap();
    store.set_name("ann", "Ann B").unwrap();
    assert_eq!(store.name("ann").unwrap().as_deref(), Some("Ann B"));
}
