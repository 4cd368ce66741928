use shared::{Attachment, BotmasterMessage, QuickReply};

/// One message of a bot's answer: text, maybe an image, maybe answers to
/// pick. Engines fill it; each view shows what it can.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BotReply {
    /// Plain text; may be empty when the message is only an image.
    pub text: String,
    /// An image's web address.
    pub image: Option<String>,
    /// Answers the user can click instead of typing.
    pub quick_replies: Vec<QuickReply>,
}

impl BotReply {
    /// A reply that is only text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// The reply as lines of plain text, for the group chat, which shows
    /// text only: the text, then `Image: <url>`, then `Options: a | b`.
    pub fn plain_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.text.is_empty() {
            lines.push(self.text.clone());
        }
        if let Some(url) = &self.image {
            lines.push(format!("Image: {url}"));
        }
        if !self.quick_replies.is_empty() {
            let titles: Vec<_> = self
                .quick_replies
                .iter()
                .map(|q| q.title.as_str())
                .collect();
            lines.push(format!("Options: {}", titles.join(" | ")));
        }
        lines
    }

    /// The reply as a Botmaster message. An image that is not an `http(s)`
    /// address is shown as text, never as an image source; an image without
    /// text carries its address as text, for clients that read only text.
    pub fn to_botmaster(&self) -> BotmasterMessage {
        let attachment = self.image.as_deref().and_then(Attachment::image);
        let mut text = self.text.clone();
        if let Some(url) = &self.image {
            if text.is_empty() {
                text.clone_from(url);
            } else if attachment.is_none() {
                text = format!("{text}\n{url}");
            }
        }
        BotmasterMessage {
            text,
            quick_replies: self.quick_replies.clone(),
            attachment,
        }
    }
}

impl From<&str> for BotReply {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_chat_gets_every_part_as_text() {
        let reply = BotReply {
            text: "Shall we?".into(),
            image: Some("http://x/cat.png".into()),
            quick_replies: vec![QuickReply::new("Yes", "/y"), QuickReply::new("No", "/n")],
        };
        assert_eq!(
            reply.plain_lines(),
            ["Shall we?", "Image: http://x/cat.png", "Options: Yes | No"]
        );
    }

    #[test]
    fn botmaster_gets_an_image_only_from_a_web_address() {
        let image = BotReply {
            image: Some("https://x/cat.png".into()),
            ..BotReply::default()
        };
        let message = image.to_botmaster();
        assert_eq!(message.text, "https://x/cat.png");
        assert_eq!(
            message
                .attachment
                .and_then(|a| a.image_url().map(str::to_owned)),
            Some("https://x/cat.png".to_owned())
        );
        let hostile = BotReply {
            text: "look".into(),
            image: Some("javascript:alert(1)".into()),
            ..BotReply::default()
        };
        let message = hostile.to_botmaster();
        assert_eq!(message.attachment, None);
        assert_eq!(message.text, "look\njavascript:alert(1)");
    }
}
