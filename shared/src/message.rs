use serde::{Deserialize, Serialize};

use crate::rooms::RoomName;
use crate::validation::{self, ValidationError};

/// The name the chat bot speaks under, as in the tutorial. People cannot take it.
pub const BOT_NAME: &str = "ChatFriend";

/// A display name that passed [`NewMessage::validate`] (or came from the server).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    /// Checks `raw` against the name rules and keeps it trimmed.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        validation::name(raw).map(|name| Self(name.to_owned()))
    }

    /// The bot's own name; only the server speaks with it.
    pub fn bot() -> Self {
        Self(BOT_NAME.to_owned())
    }

    /// A name the server accepted earlier and stored.
    pub fn from_store(name: String) -> Self {
        Self(name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text of a message that passed [`NewMessage::validate`] (or came from the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageBody(String);

impl MessageBody {
    /// Checks `raw` against the body rules and keeps it trimmed.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        validation::body(raw).map(|body| Self(body.to_owned()))
    }

    /// Wraps text the bot wrote. Bot text is trusted, but still has to be
    /// rendered as text like everything else.
    pub fn from_bot(text: String) -> Self {
        Self(text)
    }

    /// A body the server accepted (or the bot wrote) earlier and stored.
    pub fn from_store(text: String) -> Self {
        Self(text)
    }

    /// The body as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Server-assigned, strictly increasing id of an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub u64);

/// When the server accepted a message: milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

/// The sender's own id for a message, made up by the client before sending.
/// A resend carries the same id, so the server stores the message once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientMessageId(String);

impl ClientMessageId {
    /// Checks `raw`: 1 to 64 characters out of `A-Z a-z 0-9 _ -`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        validation::client_id(raw).map(|id| Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a client sends with [`NEW_MESSAGE`](crate::events::NEW_MESSAGE): the
/// tutorial's `{user, body}`, not yet checked, and optionally the room and
/// the client's own id for it, which makes resending safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Who says it, as typed. A socket with a session token whose session
    /// has a name speaks under that name and may leave this empty; the first
    /// name it sends becomes its session's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What they say, as typed.
    pub body: String,
    /// The sender's id for this message; the same on every resend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The room, as the client names it; [`GENERAL`](crate::GENERAL) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

impl NewMessage {
    /// Applies the shared rules: both fields non-empty after trimming, within
    /// their length limits, no control characters, and not the bot's name.
    pub fn validate(&self) -> Result<(UserName, MessageBody), ValidationError> {
        let user = UserName::parse(self.user.as_deref().unwrap_or_default());
        let body = MessageBody::parse(&self.body);
        match (user, body) {
            // Report an empty form first: it is what the person can fix at once.
            (Err(ValidationError::Incomplete), _) | (_, Err(ValidationError::Incomplete)) => {
                Err(ValidationError::Incomplete)
            }
            (user, body) => Ok((user?, body?)),
        }
    }

    /// Checks the body alone, for a sender whose name is its session's.
    pub fn validate_body(&self) -> Result<MessageBody, ValidationError> {
        MessageBody::parse(&self.body)
    }

    /// The client's id for the message, checked; `None` when it sent none.
    pub fn client_id(&self) -> Result<Option<ClientMessageId>, ValidationError> {
        self.client_id
            .as_deref()
            .map(ClientMessageId::parse)
            .transpose()
    }
}

/// An accepted message as every client receives it, from a person
/// ([`NEW_MESSAGE`](crate::events::NEW_MESSAGE)) or from the bot
/// ([`BOT_MESSAGE`](crate::events::BOT_MESSAGE)). Carries the tutorial's
/// `user` and `body`, so the tutorial's client can still show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Server-assigned id; later messages have larger ids.
    pub id: MessageId,
    /// Who said it.
    pub user: UserName,
    /// What was said. Plain text: never interpret it as HTML.
    pub body: MessageBody,
    /// When the server accepted it.
    pub sent_at: Timestamp,
    /// The sender's id for it, so the sending client recognises its own message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientMessageId>,
    /// The room it was said in.
    #[serde(default)]
    pub room: RoomName,
    /// The sender's user id, when the sender had a session: tells apart two
    /// people of the same name. Nobody can send under another session's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// On a bot reply: the id of the message (in the same room) it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<MessageId>,
}

impl ChatMessage {
    /// Whether the bot wrote it (nobody else may use its name).
    pub fn from_bot(&self) -> bool {
        self.user.as_str() == BOT_NAME
    }
}

/// Messages a client missed or asked for: [`HISTORY`](crate::events::HISTORY),
/// and the answer to [`OLDER`](crate::events::OLDER).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    /// The room they are from.
    #[serde(default)]
    pub room: RoomName,
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// The client's list should be replaced by these, rather than extended:
    /// it was fresh, or too far behind to catch up message by message.
    #[serde(default)]
    pub reset: bool,
    /// Older messages exist before the first of these.
    #[serde(default)]
    pub more: bool,
}

/// Asks for messages older than `before`: [`OLDER`](crate::events::OLDER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OlderRequest {
    /// The oldest message the client has.
    pub before: MessageId,
    /// The room; [`GENERAL`](crate::GENERAL) when absent.
    #[serde(default)]
    pub room: RoomName,
}

/// Why the server refused a message, sent to its sender only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatError {
    /// What kind of refusal, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people. Never contains internal details.
    pub message: String,
    /// For refusals that pass with time (`rate_limited`, `overloaded`): how
    /// long to wait before sending again, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// The kinds of refusal a client can get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The payload was not `{user, body}` with two strings.
    Malformed,
    /// The fields broke a rule of [`NewMessage::validate`].
    Invalid,
    /// The sender is sending faster than the server accepts; try again shortly.
    RateLimited,
    /// The server is overloaded; try again shortly.
    Overloaded,
    /// The server could not store the message, so it was not sent; try again later.
    Unavailable,
}

impl ErrorCode {
    /// Whether sending the same message again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Overloaded | Self::Unavailable
        )
    }
}

impl From<ValidationError> for ChatError {
    fn from(error: ValidationError) -> Self {
        Self {
            code: ErrorCode::Invalid,
            message: error.to_string(),
            retry_after_ms: None,
        }
    }
}

impl From<crate::RoomNameError> for ChatError {
    fn from(error: crate::RoomNameError) -> Self {
        Self {
            code: ErrorCode::Invalid,
            message: error.to_string(),
            retry_after_ms: None,
        }
    }
}

/// The ack a client gets for [`NEW_MESSAGE`](crate::events::NEW_MESSAGE) when it asks for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOutcome {
    /// Accepted and broadcast under this id.
    Accepted {
        /// The id every client sees on the message.
        id: MessageId,
    },
    /// Refused; nobody else saw it.
    Rejected(ChatError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(user: &str, body: &str) -> NewMessage {
        NewMessage {
            user: Some(user.into()),
            body: body.into(),
            client_id: None,
            room: None,
        }
    }

    #[test]
    fn a_valid_message_is_trimmed() {
        let (user, body) = new("  ann ", " hello there? ").validate().unwrap();
        assert_eq!(user.as_str(), "ann");
        assert_eq!(body.as_str(), "hello there?");
    }

    #[test]
    fn an_empty_field_is_reported_as_an_incomplete_form() {
        for (user, body) in [
            ("", "hi"),
            ("ann", ""),
            ("  ", "hi"),
            ("ann", "\n\t "),
            ("", ""),
        ] {
            assert_eq!(
                new(user, body).validate(),
                Err(ValidationError::Incomplete),
                "{user:?} / {body:?}"
            );
        }
        assert_eq!(
            ValidationError::Incomplete.to_string(),
            "Please complete the form to send a message"
        );
    }

    #[test]
    fn an_empty_form_wins_over_other_errors() {
        let long_name = "a".repeat(crate::MAX_NAME_CHARS + 1);
        assert_eq!(
            new(&long_name, "").validate(),
            Err(ValidationError::Incomplete)
        );
    }

    #[test]
    fn html_is_kept_as_text() {
        let (_, body) = new("eve", "<img src=x onerror=alert(1)>")
            .validate()
            .unwrap();
        assert_eq!(body.as_str(), "<img src=x onerror=alert(1)>");
    }

    #[test]
    fn wire_format_matches_the_tutorial_fields() {
        let message = ChatMessage {
            id: MessageId(7),
            user: UserName::parse("ann").unwrap(),
            body: MessageBody::parse("hi").unwrap(),
            sent_at: Timestamp(1_700_000_000_000),
            client_id: None,
            room: RoomName::general(),
            user_id: None,
            answers: None,
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "user": "ann", "body": "hi", "sent_at": 1_700_000_000_000u64, "room": "general"})
        );
        let back: ChatMessage = serde_json::from_value(json).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn outcomes_are_tagged() {
        let accepted = serde_json::to_value(SendOutcome::Accepted { id: MessageId(3) }).unwrap();
        assert_eq!(accepted, serde_json::json!({"accepted": {"id": 3}}));
        let rejected =
            serde_json::to_value(SendOutcome::Rejected(ValidationError::Incomplete.into()))
                .unwrap();
        assert_eq!(
            rejected,
            serde_json::json!({"rejected": {"code": "invalid", "message": "Please complete the form to send a message"}})
        );
    }
}
