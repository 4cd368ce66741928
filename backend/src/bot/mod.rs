//! Bot engines. The hub only knows the [`ChatBot`] trait, so an engine is
//! chosen at start-up and swapped without touching the chat itself.

mod http;
mod rasa;
mod rules;

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

pub use rasa::RasaBot;
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

/// What users see when the bot fails or is too slow. The cause stays in the log.
pub const UNAVAILABLE: &str = "The bot is unavailable right now; please try again later.";

/// Asks `bot` about `message` from `sender`, waiting at most `timeout`. A
/// failure or a timeout is logged and answered with [`UNAVAILABLE`], so the
/// person always hears back and never sees internal details.
pub async fn ask(bot: &dyn ChatBot, timeout: Duration, sender: &str, message: &str) -> Vec<String> {
    match tokio::time::timeout(timeout, bot.reply(sender, message)).await {
        Ok(Ok(replies)) => replies,
        Ok(Err(error)) => {
            tracing::warn!(%error, "bot failed");
            vec![UNAVAILABLE.to_owned()]
        }
        Err(_) => {
            tracing::warn!(?timeout, "bot timed out");
            vec![UNAVAILABLE.to_owned()]
        }
    }
}
