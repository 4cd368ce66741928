//! The two shapes Botmaster clients speak: the tutorial page sends and reads
//! JSON *strings*; the published Botmaster packages and the clients written
//! for them send and read *objects*. Each user is answered in the shape the
//! user speaks: once any of a user's sockets sent an object, all of that
//! user's tabs get objects; users who sent strings get strings; users who
//! sent nothing yet get the configured default.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use clap::ValueEnum;
use serde::Serialize;
use serde_json::Value;

use crate::identity::UserId;

/// How Botmaster-mode events are sent to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReplyShape {
    /// JSON strings, as the Botmaster tutorial's page reads them.
    #[default]
    String,
    /// Objects, as the published Botmaster (2 and 3) sends them.
    Object,
}

impl std::fmt::Display for ReplyShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::String => "string",
            Self::Object => "object",
        })
    }
}

/// The shape each user speaks. A cheap `Clone` handle; the lock is never
/// held across an await.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dialects {
    /// For users who have sent nothing yet.
    default: ReplyShape,
    /// Users who have sent something, and in which shape.
    spoken: Arc<Mutex<HashMap<UserId, ReplyShape>>>,
}

impl Dialects {
    /// Nobody heard yet; `default` for them.
    pub(crate) fn new(default: ReplyShape) -> Self {
        Self {
            default,
            spoken: Arc::default(),
        }
    }

    /// `user` sent `payload`: an object makes the user an object speaker
    /// for good (one tab written for the published Botmaster is enough); a
    /// string counts only for users never heard in objects.
    pub(crate) fn heard(&self, user: &UserId, payload: &Value) {
        let shape = if payload.is_object() {
            ReplyShape::Object
        } else {
            ReplyShape::String
        };
        let mut spoken = self.spoken.lock().unwrap_or_else(PoisonError::into_inner);
        let known = spoken.entry(user.clone()).or_insert(shape);
        if shape == ReplyShape::Object {
            *known = ReplyShape::Object;
        }
    }

    /// The shape to answer `user` in.
    pub(crate) fn of(&self, user: &UserId) -> ReplyShape {
        self.spoken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            .copied()
            .unwrap_or(self.default)
    }
}

/// `value` as an event payload in `shape`.
pub(crate) fn encode<T: Serialize>(value: &T, shape: ReplyShape) -> Value {
    let value = serde_json::to_value(value).expect("plain data always serialises");
    match shape {
        ReplyShape::Object => value,
        ReplyShape::String => Value::String(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn a_user_is_answered_in_the_shape_the_user_speaks() {
        let dialects = Dialects::new(ReplyShape::String);
        assert_eq!(dialects.of(&user("ann")), ReplyShape::String);
        dialects.heard(&user("ann"), &json!({"text": "hi"}));
        assert_eq!(dialects.of(&user("ann")), ReplyShape::Object);
        // A string from another tab does not take the objects away.
        dialects.heard(&user("ann"), &json!("{\"text\":\"hi\"}"));
        assert_eq!(dialects.of(&user("ann")), ReplyShape::Object);
        assert_eq!(dialects.of(&user("bob")), ReplyShape::String);
    }

    #[test]
    fn the_default_is_for_users_not_heard_yet_and_strings_keep_strings() {
        let dialects = Dialects::new(ReplyShape::Object);
        assert_eq!(dialects.of(&user("ann")), ReplyShape::Object);
        dialects.heard(&user("bob"), &json!("{\"text\":\"hi\"}"));
        assert_eq!(dialects.of(&user("bob")), ReplyShape::String);
    }

    #[test]
    fn payloads_are_objects_or_their_json_strings() {
        let value = json!({"message": {"text": "hi"}});
        assert_eq!(encode(&value, ReplyShape::Object), value);
        assert_eq!(
            encode(&value, ReplyShape::String),
            json!("{\"message\":{\"text\":\"hi\"}}")
        );
    }
}
