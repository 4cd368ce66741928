use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{BotError, ChatBot, http};

/// A Rasa assistant behind its REST channel:
/// `POST {url}/webhooks/rest/webhook` with `{"sender", "message"}`, answered
/// with a list of `{recipient_id, text?, image?, buttons?}`.
#[derive(Debug, Clone)]
pub struct RasaBot {
    webhook: String,
}

impl RasaBot {
    /// The assistant at `url`, e.g. `http://127.0.0.1:5005`.
    pub fn new(url: &str) -> Self {
        Self {
            webhook: format!("{}/webhooks/rest/webhook", url.trim_end_matches('/')),
        }
    }
}

/// One message of Rasa's answer.
#[derive(Debug, Deserialize)]
struct RasaMessage {
    text: Option<String>,
    image: Option<String>,
    #[serde(default)]
    buttons: Vec<RasaButton>,
}

#[derive(Debug, Deserialize)]
struct RasaButton {
    title: String,
}

#[async_trait]
impl ChatBot for RasaBot {
    async fn reply(&self, sender: &str, message: &str) -> Result<Vec<String>, BotError> {
        let answer = http::post_json(
            &self.webhook,
            &json!({"sender": sender, "message": message}),
            None,
        )
        .await?;
        let messages: Vec<RasaMessage> = serde_json::from_value(answer)
            .map_err(|e| BotError::Unavailable(format!("unexpected answer from Rasa: {e}")))?;
        // Text as it is; images and buttons as text until the page can show them.
        Ok(messages
            .into_iter()
            .flat_map(|m| {
                let buttons = (!m.buttons.is_empty()).then(|| {
                    let titles: Vec<_> = m.buttons.into_iter().map(|b| b.title).collect();
                    format!("Options: {}", titles.join(" | "))
                });
                m.text
                    .into_iter()
                    .chain(m.image.map(|url| format!("Image: {url}")))
                    .chain(buttons)
            })
            .collect())
    }
}
