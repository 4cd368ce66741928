//! Bot engines. The hub only knows the [`ChatBot`] trait, so an engine is
//! chosen at start-up and swapped without touching the chat itself.

mod botpress;
mod client;
mod openai;
mod rasa;
mod reply;
mod rules;

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use botpress::BotpressBot;
pub use client::{ClientError, EngineClient, EngineOptions};
pub use openai::OpenAiBot;
pub use rasa::RasaBot;
pub use reply::BotReply;
pub use rules::RuleBot;

/// Who the bot is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Speaker<'a> {
    /// The conversation, the same for every message of it: `group:<name>`
    /// in the group chat, `user:<id>` in a private one. Engines that remember
    /// (Rasa's sender id, the OpenAI history) key on it, so the group chat
    /// and a private conversation never share context.
    pub conversation: &'a str,
    /// How to address the person: the display name, or the user id in a
    /// private conversation.
    pub name: &'a str,
}

impl<'a> Speaker<'a> {
    /// `name`, speaking in `conversation`.
    pub fn new(conversation: &'a str, name: &'a str) -> Self {
        Self { conversation, name }
    }
}

/// Something that answers chat messages, like the tutorial's `getResponse`.
#[async_trait]
pub trait ChatBot: Send + Sync + 'static {
    /// The replies to `message` from `speaker`, in the order they should be
    /// shown; empty when the bot has nothing to say. The hub runs this off the
    /// message path and under a timeout, so a slow engine delays nobody else.
    async fn reply(&self, speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError>;

    /// The replies at once, for an engine that answers without waiting for
    /// anything (the rule bot): the hub stores them with the message, in
    /// its transaction, and sends them right after it. `None`, the default,
    /// for engines that must be asked with [`ChatBot::reply`].
    fn reply_now(&self, _speaker: Speaker<'_>, _message: &str) -> Option<Vec<BotReply>> {
        None
    }

    /// Like [`ChatBot::reply`], but sends the answer's text to `pieces` as
    /// it is written, for engines that produce it bit by bit. The returned
    /// replies are the finished answer. Engines that answer all at once keep
    /// this default, which sends no pieces.
    async fn reply_streaming(
        &self,
        speaker: Speaker<'_>,
        message: &str,
        pieces: mpsc::UnboundedSender<String>,
    ) -> Result<Vec<BotReply>, BotError> {
        drop(pieces);
        self.reply(speaker, message).await
    }
}

/// Why a bot could not answer. Details are logged on the server; users only
/// learn that the bot is unavailable.
#[derive(Debug, Error)]
pub enum BotError {
    /// The engine could not be reached or answered with an error.
    #[error("bot engine unavailable: {0}")]
    Unavailable(String),
    /// The engine answered with an error status.
    #[error("bot engine unavailable: error status from {url}: {status}")]
    Status {
        /// What was asked.
        url: String,
        /// What the engine answered.
        status: u16,
    },
}

/// What users see when the bot fails or is too slow. The cause stays in the log.
pub const UNAVAILABLE: &str = "The bot is unavailable right now; please try again later.";

/// Asks `bot` about `message` from `sender`, waiting at most `timeout`. A
/// failure or a timeout is logged and answered with [`UNAVAILABLE`], so the
/// person always hears back and never sees internal details.
pub async fn ask(
    bot: &dyn ChatBot,
    timeout: Duration,
    speaker: Speaker<'_>,
    message: &str,
) -> Vec<BotReply> {
    match tokio::time::timeout(timeout, bot.reply(speaker, message)).await {
        Ok(result) => answer_or_unavailable(result),
        Err(_) => {
            tracing::warn!(?timeout, "bot timed out");
            vec![BotReply::text(UNAVAILABLE)]
        }
    }
}

/// Like [`ask`], streaming: `on_piece` gets each piece of the answer as the
/// engine writes it. `idle` bounds the wait for the first piece and between
/// pieces, so a long answer that keeps coming is not cut off, while an
/// engine that stalls is.
pub async fn ask_streaming<F>(
    bot: &dyn ChatBot,
    idle: Duration,
    speaker: Speaker<'_>,
    message: &str,
    mut on_piece: impl FnMut(String) -> F,
) -> Vec<BotReply>
where
    F: Future<Output = ()>,
{
    let (pieces, mut arriving) = mpsc::unbounded_channel();
    let answer = bot.reply_streaming(speaker, message, pieces);
    tokio::pin!(answer);
    let mut deadline = Instant::now() + idle;
    loop {
        tokio::select! {
            biased;
            Some(piece) = arriving.recv() => {
                on_piece(piece).await;
                deadline = Instant::now() + idle;
            }
            result = &mut answer => {
                // Pieces written in the engine's last step are still due.
                while let Ok(piece) = arriving.try_recv() {
                    on_piece(piece).await;
                }
                return answer_or_unavailable(result);
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(?idle, "bot stalled");
                return vec![BotReply::text(UNAVAILABLE)];
            }
        }
    }
}

/// Whether `replies` is the [`UNAVAILABLE`] notice [`ask`] gives for a
/// failure or a timeout (for counting them).
pub fn failed(replies: &[BotReply]) -> bool {
    matches!(replies, [only] if only.text == UNAVAILABLE && only.image.is_none())
}

fn answer_or_unavailable(result: Result<Vec<BotReply>, BotError>) -> Vec<BotReply> {
    result.unwrap_or_else(|error| {
        tracing::warn!(%error, "bot failed");
        vec![BotReply::text(UNAVAILABLE)]
    })
}
