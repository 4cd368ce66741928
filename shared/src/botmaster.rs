//! Botmaster mode's messages. Botmaster speaks Messenger's message format:
//! a bot message is `{"recipient": {"id"}, "message": {"text", "quick_replies",
//! "attachment"}}`, sent as a JSON *string*. Botmaster's original client
//! reads `message.text` only, so every message carries a text, images included.

use serde::{Deserialize, Serialize};

/// One message of the bot to a user: [`crate::events::BOTMASTER_MESSAGE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotmasterUpdate {
    /// Whom it is for.
    pub recipient: Recipient,
    /// What the bot says.
    pub message: BotmasterMessage,
    /// Set when the message completes a stream of [`BotStreamDelta`]s: the
    /// finished text replaces what was streamed under this id.
    #[serde(default, rename = "streamId", skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u64>,
    /// The line's id in the stored conversation (1, 2, 3, … per user), so
    /// a page can tell a line it already has from a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// On the echo of the user's own words: the client id it was sent with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// When the line was stored, in milliseconds since the Unix epoch
    /// (Botmaster's and Messenger's `timestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

/// The user a message is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The user's id.
    pub id: String,
}

/// The content of a bot message, in Messenger's shape.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BotmasterMessage {
    /// Plain text, never markup. For an image, its address, so that clients
    /// that only read text still show something useful.
    pub text: String,
    /// Answers the user can pick instead of typing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReply>,
    /// An image to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
}

/// A button under a bot message; clicking it sends `payload`, shown as `title`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReply {
    /// Always `"text"`, as in Messenger.
    pub content_type: String,
    /// What the button says.
    pub title: String,
    /// What the bot receives when it is clicked.
    pub payload: String,
}

impl QuickReply {
    /// A text quick reply.
    pub fn new(title: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            content_type: "text".to_owned(),
            title: title.into(),
            payload: payload.into(),
        }
    }
}

/// Media attached to a bot message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Always `"image"` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the media is.
    pub payload: AttachmentPayload,
}

impl Attachment {
    /// An image at `url`, if `url` is an `http(s)` address; anything else
    /// (`javascript:`, `data:`) is refused, so it can never reach a page as a source.
    pub fn image(url: &str) -> Option<Self> {
        is_web_address(url).then(|| Self {
            kind: "image".to_owned(),
            payload: AttachmentPayload {
                url: url.to_owned(),
            },
        })
    }

    /// The image's address, if this is an image with a web address.
    pub fn image_url(&self) -> Option<&str> {
        (self.kind == "image" && is_web_address(&self.payload.url)).then_some(&self.payload.url)
    }
}

/// Where attached media is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentPayload {
    /// An `http(s)` address.
    pub url: String,
}

/// A piece of a bot answer still being written: [`crate::events::BOT_STREAM`].
/// Pieces of one answer share an id and arrive in order; the finished
/// answer follows as a [`BotmasterUpdate`] with the same `streamId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotStreamDelta {
    /// Which answer this piece belongs to.
    pub id: u64,
    /// Text to append.
    pub delta: String,
}

/// One line of a private conversation, as stored:
/// [`crate::events::BOT_HISTORY`] sends the latest of them to a tab that connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotHistoryEntry {
    /// The line's id in the stored conversation.
    #[serde(default)]
    pub id: u64,
    /// Whether the bot said it; otherwise the user did.
    pub from_bot: bool,
    /// What was said.
    pub message: BotmasterMessage,
    /// The user's own id for a line the user sent with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// When the line was stored, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

/// What a user sends in Botmaster mode: `{"text"}`, plus the payload when
/// the user clicked a quick reply (then `text` is the button's title).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotmasterInput {
    /// What the user said, as shown.
    pub text: String,
    /// The clicked quick reply, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_reply: Option<QuickReplyChoice>,
    /// The sender's own id for the message, as for the group chat: a resend
    /// with the same id is acknowledged and not said again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The payload of a clicked quick reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReplyChoice {
    /// What the bot receives.
    pub payload: String,
}

fn is_web_address(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_become_images() {
        assert!(Attachment::image("https://example.com/cat.png").is_some());
        assert!(Attachment::image("HTTP://example.com/cat.png").is_some());
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "//example.com/x.png",
            "http://exa mple.com",
            "",
        ] {
            assert!(Attachment::image(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_original_clients_text_is_always_there() {
        let update = BotmasterUpdate {
            recipient: Recipient { id: "u1".into() },
            message: BotmasterMessage {
                text: "Pick one".into(),
                quick_replies: vec![QuickReply::new("Yes", "/affirm")],
                attachment: None,
            },
            stream_id: None,
            id: Some(4),
            client_id: None,
            timestamp: None,
        };
        let json: serde_json::Value = serde_json::to_value(&update).unwrap();
        assert_eq!(json["message"]["text"], "Pick one");
        assert_eq!(json["message"]["quick_replies"][0]["content_type"], "text");
        assert_eq!(json["recipient"]["id"], "u1");
        assert!(json.get("streamId").is_none());
    }
}
