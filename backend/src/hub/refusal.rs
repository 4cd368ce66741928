use shared::{ChatError, ErrorCode, ValidationError};
use thiserror::Error;

/// Why the hub refused a message. Told to its sender only, never broadcast.
#[derive(Debug, Error)]
pub(crate) enum Refusal {
    /// The payload was not `{user, body}` with two strings.
    #[error("A message must be an object with the text fields \"user\" and \"body\"")]
    Malformed,
    /// The fields broke a shared validation rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The sender exceeded its rate limit.
    #[error("You are sending messages too fast; wait a moment and try again")]
    RateLimited,
    /// The server has more messages queued than it can take.
    #[error("The server is busy; try again in a moment")]
    Overloaded,
    /// The message could not be stored, so nobody got it.
    #[error("The server could not save your message, so it was not sent; try again later")]
    Unavailable,
}

impl From<&Refusal> for ChatError {
    fn from(refusal: &Refusal) -> Self {
        let code = match refusal {
            Refusal::Malformed => ErrorCode::Malformed,
            Refusal::Invalid(_) => ErrorCode::Invalid,
            Refusal::RateLimited => ErrorCode::RateLimited,
            Refusal::Overloaded => ErrorCode::Overloaded,
            Refusal::Unavailable => ErrorCode::Unavailable,
        };
        Self {
            code,
            message: refusal.to_string(),
        }
    }
}
