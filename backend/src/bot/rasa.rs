use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use shared::QuickReply;

use super::{BotError, BotReply, ChatBot, EngineClient, Speaker};

/// A Rasa assistant behind its REST channel:
/// `POST {url}/webhooks/rest/webhook` with `{"sender", "message"}`, answered
/// with a list of `{recipient_id, text?, image?, buttons?}`.
#[derive(Debug, Clone)]
pub struct RasaBot {
    webhook: String,
    client: EngineClient,
}

impl RasaBot {
    /// The assistant at `url`, e.g. `http://127.0.0.1:5005` or a hosted
    /// `https://` one, asked through `client`.
    pub fn new(url: &str, client: EngineClient) -> Self {
        Self {
            webhook: format!("{}/webhooks/rest/webhook", url.trim_end_matches('/')),
            client,
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
    payload: String,
}

#[async_trait]
impl ChatBot for RasaBot {
    async fn reply(&self, speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        // Rasa keeps a tracker per sender: one per conversation.
        let request = self.client.post(
            &self.webhook,
            &json!({"sender": speaker.conversation, "message": message}),
        );
        let answer = self.client.json(request).await?;
        let messages: Vec<RasaMessage> = serde_json::from_value(answer)
            .map_err(|e| BotError::Unavailable(format!("unexpected answer from Rasa: {e}")))?;
        Ok(messages
            .into_iter()
            .map(|m| BotReply {
                text: m.text.unwrap_or_default(),
                image: m.image,
                quick_replies: m
                    .buttons
                    .into_iter()
                    .map(|b| QuickReply::new(b.title, b.payload))
                    .collect(),
            })
            .filter(|reply| *reply != BotReply::default())
            .collect())
    }
}
