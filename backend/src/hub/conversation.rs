//! Where a conversation lives: one name for it in the store and in
//! Socket.IO's rooms. A group room `general` is `group` (its name before
//! rooms existed, so old histories stay where they are), another group room
//! `group:<name>`, a user's private conversation `user:<id>`.

use shared::RoomName;

use crate::identity::UserId;

/// The store's and Socket.IO's prefix of every group room.
pub(crate) const GROUP: &str = "group";

/// The prefix of every private conversation.
pub(crate) const PRIVATE: &str = "user:";

/// A conversation, by what it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Conversation {
    /// A group room.
    Room(RoomName),
    /// A user's private conversation with the bot, and the room of all of
    /// that user's sockets.
    Private(UserId),
}

impl Conversation {
    /// Its key in the store and its Socket.IO room.
    pub(crate) fn key(&self) -> String {
        match self {
            Self::Room(room) if room.is_general() => GROUP.to_owned(),
            Self::Room(room) => format!("{GROUP}:{room}"),
            Self::Private(user) => format!("{PRIVATE}{}", user.as_str()),
        }
    }

    /// The conversation stored under `key`; `None` for a key of neither kind.
    pub(crate) fn from_key(key: &str) -> Option<Self> {
        if key == GROUP {
            return Some(Self::Room(RoomName::general()));
        }
        if let Some(name) = key.strip_prefix("group:") {
            return RoomName::parse(name).ok().map(Self::Room);
        }
        let user = key.strip_prefix(PRIVATE)?;
        UserId::parse(user).ok().map(Self::Private)
    }
}

/// The key of group room `room`.
pub(crate) fn room_key(room: &RoomName) -> String {
    Conversation::Room(room.clone()).key()
}

/// The key of `user`'s private conversation.
pub(crate) fn private_key(user: &UserId) -> String {
    Conversation::Private(user.clone()).key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_both_ways_and_general_keeps_its_old_key() {
        let dev = Conversation::Room(RoomName::parse("dev").unwrap());
        let ann = Conversation::Private(UserId::parse("ann").unwrap());
        let general = Conversation::Room(RoomName::general());
        for (conversation, key) in [(&general, "group"), (&dev, "group:dev"), (&ann, "user:ann")] {
            assert_eq!(conversation.key(), key);
            assert_eq!(Conversation::from_key(key).as_ref(), Some(conversation));
        }
        assert_eq!(Conversation::from_key("group:Not A Room"), None);
        assert_eq!(Conversation::from_key("elsewhere"), None);
    }
}
