//! Group rooms: their names, and what the page and the server say about
//! them (joining, reading, who is there, who is typing).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::message::{MessageId, UserName};

/// The room everyone is in, and where the tutorial's messages without a room go.
pub const GENERAL: &str = "general";

/// Rooms one user may be in at once, `general` included.
pub const MAX_ROOMS_PER_USER: usize = 50;

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 32;

/// Why a room name was refused. The text is meant for the person typing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoomNameError {
    /// Nothing but blanks.
    #[error("Please type a room name")]
    Empty,
    /// Longer than [`MAX_ROOM_CHARS`].
    #[error("A room name has at most {MAX_ROOM_CHARS} characters")]
    TooLong,
    /// A character other than a-z, 0-9, `-` and `_`, or a first character
    /// that is not a letter or a digit.
    #[error(
        "A room name has lowercase letters, digits, - and _, and starts with a letter or digit"
    )]
    BadCharacter,
}

/// A room's name: 1 to [`MAX_ROOM_CHARS`] of `a-z 0-9 - _`, starting with a
/// letter or a digit, so it reads the same everywhere, fits in a URL as is,
/// and two rooms never look alike. What people type is trimmed and lowercased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

impl RoomName {
    /// Checks `raw` (trimmed, a leading `#` dropped, lowercased) against the rules.
    pub fn parse(raw: &str) -> Result<Self, RoomNameError> {
        let name = raw.trim();
        let name = name.strip_prefix('#').unwrap_or(name).to_ascii_lowercase();
        let Some(first) = name.bytes().next() else {
            return Err(RoomNameError::Empty);
        };
        if name.chars().count() > MAX_ROOM_CHARS {
            return Err(RoomNameError::TooLong);
        }
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        if !first.is_ascii_alphanumeric() || !name.bytes().all(allowed) {
            return Err(RoomNameError::BadCharacter);
        }
        Ok(Self(name))
    }

    /// The default room, [`GENERAL`].
    pub fn general() -> Self {
        Self(GENERAL.to_owned())
    }

    /// Whether this is [`GENERAL`].
    pub fn is_general(&self) -> bool {
        self.0 == GENERAL
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RoomName {
    fn default() -> Self {
        Self::general()
    }
}

impl TryFrom<String> for RoomName {
    type Error = RoomNameError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<RoomName> for String {
    fn from(name: RoomName) -> Self {
        name.0
    }
}

impl std::fmt::Display for RoomName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Client to server, [`JOIN`](crate::events::JOIN): enter a room, creating it
/// when it does not exist. The history follows as a
/// [`HISTORY`](crate::events::HISTORY) event; the ack is a [`RoomOutcome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The room, as typed.
    pub room: String,
    /// The last message of the room the client has, for a rejoin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_id: Option<MessageId>,
}

/// The ack of [`JOIN`](crate::events::JOIN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomOutcome {
    /// In the room now.
    Joined(RoomState),
    /// Not in it, and why.
    Rejected(crate::ChatError),
}

/// One room as a user sees it in the room list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    /// Its name.
    pub room: RoomName,
    /// The last message the user has read there, on any tab; 0 for none.
    #[serde(default)]
    pub last_read: u64,
}

/// Server to client, [`ROOMS`](crate::events::ROOMS), when it connects and
/// after a rename: who the session is and which rooms it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The session's user id; none for a socket without a session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The session's display name, once chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<UserName>,
    /// The rooms it is in, `general` first.
    pub rooms: Vec<RoomState>,
}

/// Both directions, [`READ`](crate::events::READ): the user has read `room`
/// up to message `id`. Sent by a tab; passed on to the user's other tabs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMark {
    /// The room.
    pub room: RoomName,
    /// The last message read.
    pub id: MessageId,
}

/// Client to server, [`LEAVE`](crate::events::LEAVE), and
/// [`TYPING`](crate::events::TYPING) from a client: just a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRef {
    /// The room.
    pub room: String,
}

/// Client to server, [`NAME`](crate::events::NAME), with an ack (a
/// [`SendOutcome`](crate::SendOutcome)): the session's new display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    /// The name, as typed.
    pub name: String,
}

/// The ack of [`NAME`](crate::events::NAME).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameOutcome {
    /// The session is called this now; its other tabs get the same
    /// [`Welcome`] as a [`ROOMS`](crate::events::ROOMS) event.
    Named(Welcome),
    /// Refused, and why.
    Rejected(crate::ChatError),
}

/// Someone in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Their user id: two people may share a name, never an id.
    pub user_id: String,
    /// Their display name.
    pub name: UserName,
}

/// Server to the room, [`PRESENCE`](crate::events::PRESENCE): who is in it now
/// (each user once, however many tabs), when someone arrives, leaves or
/// renames, and to a socket when it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The room.
    pub room: RoomName,
    /// Who is there, by name; at most [`MAX_MEMBERS_LISTED`].
    pub members: Vec<Member>,
    /// How many are there in all.
    pub count: usize,
}

/// The most members a [`Presence`] lists; the count says how many more.
pub const MAX_MEMBERS_LISTED: usize = 100;

/// Server to the room, [`TYPING`](crate::events::TYPING): someone is typing
/// there. Never stored; the page shows it for [`TYPING_SHOWN_MS`] or until
/// their message arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    /// The room.
    pub room: RoomName,
    /// Who.
    pub user_id: String,
    /// Their name.
    pub name: UserName,
}

/// How long "… is typing" shows after the last [`Typing`], in milliseconds.
pub const TYPING_SHOWN_MS: u64 = 5000;

/// How often a page says it is still typing, at most, in milliseconds.
pub const TYPING_EVERY_MS: u64 = 2000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_checked() {
        assert_eq!(
            RoomName::parse("  #Rust-Lang ").unwrap().as_str(),
            "rust-lang"
        );
        assert_eq!(RoomName::parse("a_1").unwrap().as_str(), "a_1");
        assert_eq!(RoomName::parse("  "), Err(RoomNameError::Empty));
        assert_eq!(RoomName::parse("#"), Err(RoomNameError::Empty));
        assert_eq!(
            RoomName::parse(&"a".repeat(MAX_ROOM_CHARS + 1)),
            Err(RoomNameError::TooLong)
        );
        for bad in ["-x", "_x", "a b", "café", "a/b", "<b>", "а"] {
            assert_eq!(
                RoomName::parse(bad),
                Err(RoomNameError::BadCharacter),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_room_name_is_checked_when_read() {
        let ok: RoomName = serde_json::from_str("\"Dev\"").unwrap();
        assert_eq!(ok.as_str(), "dev");
        assert!(serde_json::from_str::<RoomName>("\"a b\"").is_err());
    }
}
