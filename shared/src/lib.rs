//! What the browser and the server agree on: event names, the messages they
//! carry, and the rules a message must satisfy before anyone sees it.
//!
//! Both sides call the same validation, so the form refuses exactly what the
//! server would refuse, and the server never trusts the form.
#![warn(missing_docs)]

mod botmaster;
pub mod events;
pub mod links;
mod message;
mod rooms;
mod unicode_names;
mod validation;

pub use botmaster::{
    Attachment, AttachmentPayload, BotHistoryEntry, BotStreamDelta, BotmasterInput,
    BotmasterMessage, BotmasterUpdate, QuickReply, QuickReplyChoice, Recipient,
};
pub use message::{
    BOT_NAME, ChatError, ChatMessage, ClientMessageId, ErrorCode, History, MessageBody, MessageId,
    NewMessage, OlderRequest, SendOutcome, Timestamp, UserName,
};
pub use rooms::{
    GENERAL, JoinRequest, MAX_MEMBERS_LISTED, MAX_ROOM_CHARS, MAX_ROOMS_PER_USER, Member,
    NameOutcome, Presence, ReadMark, Rename, RoomName, RoomNameError, RoomOutcome, RoomRef,
    RoomState, TYPING_EVERY_MS, TYPING_SHOWN_MS, Typing, Welcome,
};
pub use validation::{MAX_BODY_CHARS, MAX_CLIENT_ID_CHARS, MAX_NAME_CHARS, ValidationError};
