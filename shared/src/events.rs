//! Socket.IO event names. Every event name used anywhere in the project is
//! one of these constants; the first two are the tutorial's, unchanged, so its
//! clients keep working.

/// Client to server: a user posts `{user, body}`. Server to every client: the
/// accepted [`ChatMessage`](crate::ChatMessage).
pub const NEW_MESSAGE: &str = "newmessage";

/// Server to every client: one reply of the chat bot, a
/// [`ChatMessage`](crate::ChatMessage) whose `user` is [`BOT_NAME`](crate::BOT_NAME).
pub const BOT_MESSAGE: &str = "botmessage";

/// Server to one client, when it joins and before any live message: what it
/// missed, a [`History`](crate::History). A client says what it has with
/// `auth: {"lastId": n}`; without it, it gets the latest messages.
pub const HISTORY: &str = "history";

/// Client to server, with an ack: an [`OlderRequest`](crate::OlderRequest);
/// answered with the [`History`](crate::History) before that message.
pub const OLDER: &str = "older";

/// Server to one client: why the message it just sent was refused, a
/// [`ChatError`](crate::ChatError). Sent whether or not the client asked for an ack.
pub const CHAT_ERROR: &str = "chaterror";

/// Botmaster mode, both directions, as Botmaster's socket.io channel named it:
/// the client sends `{"text"}` or `{"message":{"text"}}` (`socket.send`), as
/// an object or as its JSON string; the server sends the bot's replies
/// `{"recipient":{"id"},"message":{"text"}}` to every open client of that
/// user, as objects to users who send objects and as JSON strings otherwise
/// (the shape of their Botmaster).
pub const BOTMASTER_MESSAGE: &str = "message";

/// Botmaster mode, server to the user's clients: a piece of a bot answer
/// still being written, a [`BotStreamDelta`](crate::BotStreamDelta) object.
/// The finished answer follows as a [`BOTMASTER_MESSAGE`] carrying the same
/// `streamId`, so clients that ignore this event still get the whole answer.
pub const BOT_STREAM: &str = "botstream";

/// Botmaster mode, server to one client when it connects: the latest lines
/// of the user's private conversation, a list of
/// [`BotHistoryEntry`](crate::BotHistoryEntry), oldest first (as a JSON
/// string to users spoken to in strings, like [`BOT_STREAM`]).
pub const BOT_HISTORY: &str = "bothistory";

/// Botmaster mode, server to the user's own clients: a message the user sent
/// from one of them, `{"sender":{"id"},"message":{"text"},"id"}` (a JSON
/// string or an object, like [`BOTMASTER_MESSAGE`]), so the user's other
/// tabs show the whole conversation with its stored id.
pub const BOTMASTER_ECHO: &str = "usermessage";

/// Botmaster mode, server to the user's other clients: what the user sent
/// from one of them, exactly as it was sent. Botmaster's own event for this.
pub const BOTMASTER_OWN_MESSAGE: &str = "own message";

/// Server to one client when it connects, and to a user's clients after a
/// rename: a [`Welcome`](crate::Welcome) with the session's name and rooms.
pub const ROOMS: &str = "rooms";

/// Client to server, with an ack: a [`JoinRequest`](crate::JoinRequest),
/// entering (or creating) a room; answered with a
/// [`RoomOutcome`](crate::RoomOutcome), the room's history following.
pub const JOIN: &str = "join";

/// Client to server: a [`RoomRef`](crate::RoomRef), leaving a room (never
/// `general`); the user's room list forgets it.
pub const LEAVE: &str = "leave";

/// Both directions: a [`ReadMark`](crate::ReadMark). From a tab, how far the
/// user has read a room; from the server, the same to the user's other tabs.
pub const READ: &str = "read";

/// Client to server, with an ack: a [`Rename`](crate::Rename), the session's
/// display name; answered with a [`SendOutcome`](crate::SendOutcome).
pub const NAME: &str = "name";

/// Server to a room: a [`Presence`](crate::Presence), who is in it now.
pub const PRESENCE: &str = "presence";

/// Client to server: a [`RoomRef`](crate::RoomRef), the user is typing there.
/// Server to the room's other clients: a [`Typing`](crate::Typing).
pub const TYPING: &str = "typing";
