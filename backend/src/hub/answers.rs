//! The bot's answers in the group rooms, outside the sequencer: every
//! message the sequencer publishes (and, at start, every one a crash left
//! unanswered) comes here; the bot is asked off the sequencer, under its
//! timeout, and its replies go back to the sequencer to be stored and
//! published after the message they answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::{ChatMessage, RoomName};
use tokio::sync::mpsc;

use super::conversation::room_key;
use super::sequencer::{Sequencer, WeakSequencer};
use crate::bot::{BotReply, ChatBot, Speaker};
use crate::drain::{Drain, Work};
use crate::metrics::Metrics;
use crate::store::Store;

/// Where questions for the bot are sent. A cheap `Clone` handle; the bot
/// stops being asked when every handle is gone.
#[derive(Clone)]
pub(crate) struct Questions {
    asked: mpsc::UnboundedSender<(ChatMessage, Work)>,
    drain: Drain,
    bot: Arc<dyn ChatBot>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Questions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Questions").finish_non_exhaustive()
    }
}

impl Questions {
    /// Asks the bot about `message`; a draining node waits for the answer
    /// to be queued for storing before it stops.
    pub(crate) fn ask(&self, message: ChatMessage) {
        // Only fails when the answering task is gone: the server is stopping.
        let _ = self.asked.send((message, self.drain.work()));
    }

    /// The bot's lines for `body`, said by `user` in `room`, when its engine
    /// answers at once ([`ChatBot::reply_now`]): they are stored with the
    /// message and nobody asks again. `None` when the engine must be asked,
    /// or has nothing to say (then asking settles the message).
    pub(crate) fn answer_now(
        &self,
        room: &RoomName,
        user: &str,
        body: &str,
    ) -> Option<Vec<String>> {
        let conversation = conversation(room, user);
        let asked = Instant::now();
        let replies = self
            .bot
            .reply_now(Speaker::new(&conversation, user), body)?;
        self.metrics
            .bot_answered(asked.elapsed(), crate::bot::failed(&replies));
        let lines: Vec<String> = replies.iter().flat_map(BotReply::plain_lines).collect();
        (!lines.is_empty()).then_some(lines)
    }

    /// Whether nobody answers any more: the server is stopping.
    pub(crate) fn is_closed(&self) -> bool {
        self.asked.is_closed()
    }
}

/// Starts answering the questions sent to the returned handle, with `bot`,
/// each within `timeout`; the replies go to `sequencer`. Each question
/// holds a ticket of `drain` until its answer is queued.
pub(crate) fn start(
    sequencer: &Sequencer,
    bot: Arc<dyn ChatBot>,
    timeout: Duration,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    drain: Drain,
) -> Questions {
    let (questions, mut asked) = mpsc::unbounded_channel::<(ChatMessage, Work)>();
    let handle = Questions {
        asked: questions,
        drain,
        bot: bot.clone(),
        metrics: metrics.clone(),
    };
    // A weak handle: answering keeps nobody's sequencer alive.
    let sequencer = sequencer.downgrade();
    tokio::spawn(async move {
        while let Some((message, work)) = asked.recv().await {
            let answer = answer(
                bot.clone(),
                timeout,
                message,
                sequencer.clone(),
                store.clone(),
                metrics.clone(),
            );
            tokio::spawn(async move {
                answer.await;
                drop(work);
            });
        }
    });
    handle
}

/// The conversation `user` has with the bot in `room`, for engines that remember.
fn conversation(room: &RoomName, user: &str) -> String {
    format!("{}:{user}", room_key(room))
}

/// Asks the bot about `message` and queues its replies.
async fn answer(
    bot: Arc<dyn ChatBot>,
    timeout: Duration,
    message: ChatMessage,
    sequencer: WeakSequencer,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
) {
    let name = message.user.as_str();
    let conversation = conversation(&message.room, name);
    let speaker = Speaker::new(&conversation, name);
    let asked = Instant::now();
    let replies = crate::bot::ask(bot.as_ref(), timeout, speaker, message.body.as_str()).await;
    metrics.bot_answered(asked.elapsed(), crate::bot::failed(&replies));
    let replies: Vec<String> = replies.iter().flat_map(BotReply::plain_lines).collect();
    if replies.is_empty() {
        // Nothing to say is an answer too.
        if let Err(error) = store.settle(&room_key(&message.room), message.id.0).await {
            tracing::warn!(%error, "cannot settle a message the bot left alone");
        }
        return;
    }
    sequencer
        .publish_answer(message.room.clone(), message.id.0, replies)
        .await;
}
