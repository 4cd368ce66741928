//! Bot engines. The hub only knows the [`ChatBot`] trait, so an engine is
//! chosen at start-up and swapped without touching the chat itself.

mod rules;

use async_trait::async_trait;
use thiserror::Error;

pub use rules::RuleBot;

/// Something that answers chat messages, like the tutorial's `getResponse`.
#[async_trait]
pub trait ChatBot: Send + Sync + 'static {
    /// The replies to `message` from `sender`, in the order they should be
    /// shown; empty when the bot has nothing to say. The hub runs this off the
    /// message path and under a timeout, so a slow engine delays nobody else.
    async fn reply(&self, sender: &str, message: &str) -> Result<Vec<String>, BotError>;
}

/// Why a bot could not answer. Details are logged on the server; users only
/// learn that the bot is unavailable.
#[derive(Debug, Error)]
pub enum BotError {
    /// The engine could not be reached or answered with an error.
    #[error("bot engine unavailable: {0}")]
    Unavailable(String),
}
