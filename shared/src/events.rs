//! Socket.IO event names. Every event name used anywhere in the project is
//! one of these constants; the first two are the tutorial's, unchanged, so its
//! clients keep working.

/// Client to server: a user posts `{user, body}`. Server to every client: the
/// accepted [`ChatMessage`](crate::ChatMessage).
pub const NEW_MESSAGE: &str = "newmessage";

/// Server to every client: one reply of the chat bot, a
/// [`ChatMessage`](crate::ChatMessage) whose `user` is [`BOT_NAME`](crate::BOT_NAME).
pub const BOT_MESSAGE: &str = "botmessage";

/// Server to one client: why the message it just sent was refused, a
/// [`ChatError`](crate::ChatError). Sent whether or not the client asked for an ack.
pub const CHAT_ERROR: &str = "chaterror";
