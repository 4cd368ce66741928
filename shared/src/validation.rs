//! The rules for names and bodies. Lengths count characters (Unicode scalar
//! values), not bytes, so every script gets the same room.

use thiserror::Error;

use crate::BOT_NAME;
use crate::unicode_names;

/// Longest display name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 32;

/// Longest message body, in characters, after trimming.
pub const MAX_BODY_CHARS: usize = 2000;

/// Why a name or a body was refused. The text is meant for the person typing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// The name or the body is empty once surrounding blanks are removed.
    #[error("Please complete the form to send a message")]
    Incomplete,
    /// The name is longer than [`MAX_NAME_CHARS`].
    #[error("Your name is too long: at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    /// The body is longer than [`MAX_BODY_CHARS`].
    #[error("Your message is too long: at most {MAX_BODY_CHARS} characters")]
    BodyTooLong,
    /// The name holds a control character (a line break, say).
    #[error("Your name cannot contain control characters")]
    NameHasControl,
    /// The body holds a control character other than a line break or a tab.
    #[error("Your message cannot contain control characters")]
    BodyHasControl,
    /// The name is the bot's, or looks like it, which nobody else may use.
    #[error("The name {BOT_NAME} belongs to the bot")]
    ReservedName,
    /// The name holds an invisible or direction-changing character
    /// (Unicode category Cf: zero-width spaces, bidi overrides, ...).
    #[error("Your name cannot contain invisible or text-direction characters")]
    NameHasFormat,
    /// The client's message id is empty, too long, or has other characters
    /// than letters, digits, `_` and `-`.
    #[error("A message id has 1 to {MAX_CLIENT_ID_CHARS} letters, digits, _ or -")]
    BadClientId,
}

/// Longest client message id, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Checks a client's message id.
pub(crate) fn client_id(raw: &str) -> Result<&str, ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_CLIENT_ID_CHARS
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(raw)
    } else {
        Err(ValidationError::BadClientId)
    }
}

/// Trims `raw` and checks it as a display name.
pub(crate) fn name(raw: &str) -> Result<&str, ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        Err(ValidationError::Incomplete)
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err(ValidationError::NameTooLong)
    } else if name.chars().any(char::is_control) {
        Err(ValidationError::NameHasControl)
    } else if unicode_names::has_format_char(name) {
        Err(ValidationError::NameHasFormat)
    } else if name.eq_ignore_ascii_case(BOT_NAME) || unicode_names::looks_like(name, BOT_NAME) {
        Err(ValidationError::ReservedName)
    } else {
        Ok(name)
    }
}

/// Trims `raw` and checks it as a message body.
pub(crate) fn body(raw: &str) -> Result<&str, ValidationError> {
    let body = raw.trim();
    if body.is_empty() {
        Err(ValidationError::Incomplete)
    } else if body.chars().count() > MAX_BODY_CHARS {
        Err(ValidationError::BodyTooLong)
    } else if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        Err(ValidationError::BodyHasControl)
    } else {
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_limited_in_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_NAME_CHARS);
        assert_eq!(name(&at_limit), Ok(at_limit.as_str()));
        assert_eq!(
            name(&"é".repeat(MAX_NAME_CHARS + 1)),
            Err(ValidationError::NameTooLong)
        );
    }

    #[test]
    fn bodies_are_limited_in_characters() {
        let at_limit = "字".repeat(MAX_BODY_CHARS);
        assert!(body(&at_limit).is_ok());
        assert_eq!(
            body(&"字".repeat(MAX_BODY_CHARS + 1)),
            Err(ValidationError::BodyTooLong)
        );
    }

    #[test]
    fn control_characters_are_refused_except_line_breaks_in_bodies() {
        assert_eq!(name("an\nn"), Err(ValidationError::NameHasControl));
        assert_eq!(name("a\u{7}"), Err(ValidationError::NameHasControl));
        assert_eq!(body("line one\nline\ttwo"), Ok("line one\nline\ttwo"));
        assert_eq!(body("bell\u{7}"), Err(ValidationError::BodyHasControl));
        assert_eq!(body("nul\0"), Err(ValidationError::BodyHasControl));
    }

    #[test]
    fn nobody_may_pose_as_the_bot() {
        assert_eq!(name("ChatFriend"), Err(ValidationError::ReservedName));
        assert_eq!(name(" chatfriend "), Err(ValidationError::ReservedName));
        assert_eq!(name("ChatFriend2"), Ok("ChatFriend2"));
    }
}
