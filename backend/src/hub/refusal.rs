use shared::events::CHAT_ERROR;
use shared::{ChatError, ErrorCode, RoomName, RoomNameError, SendOutcome, ValidationError};
use socketioxide::extract::{AckSender, SocketRef};
use thiserror::Error;

use crate::limits::RetryAfter;
use crate::metrics::Metrics;

/// How soon a message sent while its socket is still arriving may be sent again.
const ARRIVING_RETRY_MS: u64 = 100;

/// How soon a message that could not be stored may be sent again: the
/// database may be restarting.
const UNAVAILABLE_RETRY_MS: u64 = 1000;

/// Why the hub refused a message or a request. Told to its sender only,
/// never broadcast.
#[derive(Debug, Error)]
pub(crate) enum Refusal {
    /// The payload of `newmessage` was not `{user, body}` with two strings.
    #[error("A message must be an object with the text fields \"user\" and \"body\"")]
    Malformed,
    /// The payload of `older` was not `{before}` with a message id.
    #[error(
        "A request for older messages must be an object {{\"before\": id}} with a whole number"
    )]
    MalformedOlder,
    /// A Botmaster message was neither a JSON object with a text field nor
    /// the string of one.
    #[error("A Botmaster message is a JSON object with a text field (or the JSON string of one)")]
    MalformedBotmaster,
    /// The payload of a room request was not an object with a `room` text field.
    #[error("A room request must be an object with the text field \"room\"")]
    MalformedRoom,
    /// The fields broke a shared validation rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A room name broke the shared rules.
    #[error(transparent)]
    BadRoom(#[from] RoomNameError),
    /// A message or request for a room the socket has not joined.
    #[error("Join the room {0} before writing in it")]
    NotInRoom(RoomName),
    /// The socket has just connected and is still being brought into its
    /// rooms; a resend at once is told to retry in a moment.
    #[error("Still joining your rooms; try again in a moment")]
    Arriving,
    /// The server holds as many rooms as it may; no new one is made.
    #[error("The server holds as many rooms as it may; join an existing one")]
    TooManyRooms,
    /// The user is in as many rooms as one user may.
    #[error("You are in {0} rooms, the most one person may be in; leave one first")]
    InTooManyRooms(usize),
    /// Something only a session (a token from `POST /api/session`) may do.
    #[error("This needs a session: POST /api/session, then connect with auth {{token}}")]
    NeedsSession,
    /// The sender exceeded its rate limit.
    #[error("You are sending too fast; try again in {} s", .0.seconds())]
    RateLimited(RetryAfter),
    /// The sender stored more than its share of the history lately.
    #[error("You have sent a lot in the last minute; try again in {} s", .0.seconds())]
    StoreQuota(RetryAfter),
    /// The server has more messages queued than it can take.
    #[error("The server is busy; try again in a moment")]
    Overloaded,
    /// The message could not be stored, so nobody got it.
    #[error("The server could not save your message, so it was not sent; try again later")]
    Unavailable,
    /// An earlier message of the sender's could not be stored and has not
    /// been sent again: this one waits, so the two are stored in order.
    #[error(
        "An earlier message of yours could not be saved; send that one again first, then this one"
    )]
    AfterUnsaved,
    /// The node is stopping (a restart): the message is for another node.
    #[error("This server is restarting; your message was not sent, send it again in a moment")]
    Draining,
}

impl From<&Refusal> for ChatError {
    fn from(refusal: &Refusal) -> Self {
        let (code, retry) = match refusal {
            Refusal::Malformed
            | Refusal::MalformedOlder
            | Refusal::MalformedBotmaster
            | Refusal::MalformedRoom => (ErrorCode::Malformed, None),
            Refusal::Invalid(_)
            | Refusal::BadRoom(_)
            | Refusal::NotInRoom(_)
            | Refusal::TooManyRooms
            | Refusal::InTooManyRooms(_)
            | Refusal::NeedsSession => (ErrorCode::Invalid, None),
            Refusal::RateLimited(retry) | Refusal::StoreQuota(retry) => {
                (ErrorCode::RateLimited, Some(retry.millis()))
            }
            Refusal::Overloaded => (ErrorCode::Overloaded, None),
            Refusal::Arriving => (ErrorCode::Overloaded, Some(ARRIVING_RETRY_MS)),
            Refusal::Unavailable | Refusal::AfterUnsaved | Refusal::Draining => {
                (ErrorCode::Unavailable, Some(UNAVAILABLE_RETRY_MS))
            }
        };
        Self {
            code,
            message: refusal.to_string(),
            retry_after_ms: retry,
        }
    }
}

impl Refusal {
    /// A short name of the reason, for the metrics.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::Malformed
            | Self::MalformedOlder
            | Self::MalformedBotmaster
            | Self::MalformedRoom => "malformed",
            Self::Invalid(_) | Self::BadRoom(_) => "invalid",
            Self::NotInRoom(_) => "not_in_room",
            Self::Arriving => "arriving",
            Self::TooManyRooms | Self::InTooManyRooms(_) => "too_many_rooms",
            Self::NeedsSession => "needs_session",
            Self::RateLimited(_) => "rate_limited",
            Self::StoreQuota(_) => "store_quota",
            Self::Overloaded => "overloaded",
            Self::Unavailable => "unavailable",
            Self::AfterUnsaved => "after_unsaved",
            Self::Draining => "draining",
        }
    }
}

/// Tells the sender, and only the sender, why its message was refused: a
/// `chaterror` event, and the ack when the client asked for one. Counted
/// in `metrics` by reason.
pub(crate) fn refuse(socket: &SocketRef, refusal: &Refusal, ack: AckSender, metrics: &Metrics) {
    tracing::debug!(sid = %socket.id, %refusal, "message refused");
    metrics.refused(refusal.reason());
    let error = ChatError::from(refusal);
    if let Err(error) = socket.emit(CHAT_ERROR, &error) {
        tracing::debug!(sid = %socket.id, %error, "cannot report a refusal");
    }
    reject(ack, error);
}

/// Answers a request's ack with a refusal; does nothing when the client did
/// not ask for an ack.
pub(crate) fn reject(ack: AckSender, error: ChatError) {
    if let Err(error) = ack.send(&SendOutcome::Rejected(error)) {
        tracing::debug!(%error, "cannot send ack");
    }
}
