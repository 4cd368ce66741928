use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use futures_util::StreamExt as _;

use super::client::Events;
use super::{BotError, BotReply, ChatBot, EngineClient, Speaker};

/// How many earlier messages (both sides) are sent with each question.
const HISTORY_MESSAGES: usize = 20;
/// How many people's conversations are remembered; the oldest is forgotten first.
const REMEMBERED_SENDERS: usize = 10_000;
/// The longest answer kept, in bytes; the stream is cut there.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Any OpenAI-compatible chat-completions server (OpenAI, Ollama, llama.cpp
/// server, vLLM): `POST {url}/v1/chat/completions` with the conversation so
/// far and `stream: true`; the answer arrives as server-sent events whose
/// `choices[0].delta.content` pieces make up the text, ended by `data: [DONE]`.
#[derive(Debug)]
pub struct OpenAiBot {
    endpoint: String,
    model: String,
    api_key: Option<String>,
    client: EngineClient,
    conversations: Mutex<Conversations>,
}

impl OpenAiBot {
    /// The server at `url` (e.g. `http://127.0.0.1:11434` for Ollama, or
    /// `https://api.openai.com`), answering with `model`, authenticated
    /// with `api_key` when given, asked through `client`.
    pub fn new(url: &str, model: &str, api_key: Option<String>, client: EngineClient) -> Self {
        Self {
            endpoint: format!("{}/v1/chat/completions", url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key: api_key.filter(|key| !key.is_empty()),
            client,
            conversations: Mutex::default(),
        }
    }

    fn conversations(&self) -> std::sync::MutexGuard<'_, Conversations> {
        self.conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ChatBot for OpenAiBot {
    async fn reply(&self, speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        let (pieces, _ignored) = mpsc::unbounded_channel();
        self.reply_streaming(speaker, message, pieces).await
    }

    async fn reply_streaming(
        &self,
        speaker: Speaker<'_>,
        message: &str,
        pieces: mpsc::UnboundedSender<String>,
    ) -> Result<Vec<BotReply>, BotError> {
        let sender = speaker.conversation;
        let mut messages = self.conversations().history(sender);
        messages.push(json!({"role": "user", "content": message}));
        let request = json!({"model": self.model, "messages": messages, "stream": true});
        let mut request = self.client.post(&self.endpoint, &request);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let events = self.client.events(request).await?;
        let answer = read_stream(events, &pieces).await?;
        self.conversations().remember(sender, message, &answer);
        Ok(if answer.is_empty() {
            Vec::new()
        } else {
            vec![BotReply::text(answer)]
        })
    }
}

/// One chunk of a streamed chat completion; only what the chat uses.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    content: Option<String>,
}

/// Collects the answer, passing each piece on. The stream must end with
/// `[DONE]`: one that stops before it was cut off, and is an error.
async fn read_stream(
    mut events: Events,
    pieces: &mpsc::UnboundedSender<String>,
) -> Result<String, BotError> {
    let mut answer = String::new();
    while let Some(data) = events.next().await.transpose()? {
        if data.trim() == "[DONE]" {
            return Ok(answer);
        }
        let chunk: Chunk = serde_json::from_str(&data)
            .map_err(|e| BotError::Unavailable(format!("invalid stream chunk: {e}")))?;
        let piece: String = chunk
            .choices
            .into_iter()
            .filter_map(|choice| choice.delta.content)
            .collect();
        if piece.is_empty() {
            continue;
        }
        if answer.len() + piece.len() > MAX_ANSWER_BYTES {
            return Err(BotError::Unavailable("answer too long".to_owned()));
        }
        answer.push_str(&piece);
        // Nobody listening (the group chat) is fine: the whole answer is returned.
        let _ = pieces.send(piece);
    }
    Err(BotError::Unavailable(
        "stream ended before [DONE]".to_owned(),
    ))
}

/// The recent conversation of each sender, so the model knows what was said.
#[derive(Debug, Default)]
struct Conversations {
    by_sender: HashMap<String, VecDeque<Value>>,
    /// Senders from least to most recently active.
    order: VecDeque<String>,
}

impl Conversations {
    fn history(&self, sender: &str) -> Vec<Value> {
        self.by_sender
            .get(sender)
            .map(|messages| messages.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn remember(&mut self, sender: &str, question: &str, answer: &str) {
        let messages = self.by_sender.entry(sender.to_owned()).or_default();
        messages.push_back(json!({"role": "user", "content": question}));
        messages.push_back(json!({"role": "assistant", "content": answer}));
        while messages.len() > HISTORY_MESSAGES {
            messages.pop_front();
        }
        self.order.retain(|s| s != sender);
        self.order.push_back(sender.to_owned());
        while self.order.len() > REMEMBERED_SENDERS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_sender.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_per_sender() {
        let mut conversations = Conversations::default();
        for n in 0..30 {
            conversations.remember("ann", &format!("q{n}"), &format!("a{n}"));
        }
        let history = conversations.history("ann");
        assert_eq!(history.len(), HISTORY_MESSAGES);
        assert_eq!(history[0]["content"], "q20");
        assert_eq!(history[HISTORY_MESSAGES - 1]["content"], "a29");
        assert!(conversations.history("bob").is_empty());
    }
}
