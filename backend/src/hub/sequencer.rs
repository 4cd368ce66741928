//! One task puts every message in a single order: it numbers them, stamps
//! them and broadcasts them one at a time, so every client sees the same
//! messages in the same order, and ids grow in the order messages are shown.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shared::events::{BOT_MESSAGE, NEW_MESSAGE};
use shared::{ChatMessage, MessageBody, MessageId, SendOutcome, Timestamp, UserName};
use socketioxide::SocketIo;
use socketioxide::extract::AckSender;
use tokio::sync::mpsc;

use crate::bot::{BotReply, ChatBot};

/// Messages waiting for the sequencer. Beyond this the server is overloaded
/// and refuses new messages rather than queueing without bound.
const QUEUE_CAPACITY: usize = 4096;

/// Something for the sequencer to publish.
enum Job {
    /// A person's validated message, with the ack to send once it is out.
    User {
        user: UserName,
        body: MessageBody,
        ack: AckSender,
    },
    /// The bot's answer to one message, published together and in order.
    Bot { replies: Vec<String> },
}

/// Hands messages to the sequencer. A cheap `Clone` handle.
#[derive(Clone)]
pub(crate) struct Sequencer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").finish_non_exhaustive()
    }
}

/// The sequencer's queue is full; the message was not queued and its ack is handed back.
pub(crate) struct Overloaded(pub(crate) AckSender);

/// The receiving end, until [`start`] gets the Socket.IO handle.
pub(crate) struct Pending {
    jobs: mpsc::Receiver<Job>,
    weak: mpsc::WeakSender<Job>,
}

impl Sequencer {
    /// A handle and the queue it feeds; [`start`] the queue once the server exists.
    pub(crate) fn new() -> (Self, Pending) {
        let (jobs, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let weak = jobs.downgrade();
        (
            Self { jobs },
            Pending {
                jobs: receiver,
                weak,
            },
        )
    }

    /// Queues a validated message; its ack is sent once it is broadcast.
    /// Called in the order a socket's messages arrive, which is the order
    /// they are published in.
    pub(crate) fn publish(
        &self,
        user: UserName,
        body: MessageBody,
        ack: AckSender,
    ) -> Result<(), Overloaded> {
        self.jobs
            .try_send(Job::User { user, body, ack })
            .map_err(|error| match error.into_inner() {
                Job::User { ack, .. } => Overloaded(ack),
                Job::Bot { .. } => unreachable!("only user jobs are sent here"),
            })
    }
}

/// Runs the sequencer until every [`Sequencer`] handle is gone.
pub(crate) fn start(pending: Pending, io: SocketIo, bot: Arc<dyn ChatBot>, bot_timeout: Duration) {
    let Pending { mut jobs, weak } = pending;
    tokio::spawn(async move {
        let mut last_id = 0;
        let mut next_id = move || {
            last_id += 1;
            MessageId(last_id)
        };
        while let Some(job) = jobs.recv().await {
            match job {
                Job::User { user, body, ack } => {
                    let message = ChatMessage {
                        id: next_id(),
                        user,
                        body,
                        sent_at: now(),
                    };
                    broadcast(&io, NEW_MESSAGE, &message).await;
                    if let Err(error) = ack.send(&SendOutcome::Accepted { id: message.id }) {
                        tracing::debug!(%error, "cannot send ack");
                    }
                    tokio::spawn(ask_bot(bot.clone(), bot_timeout, message, weak.clone()));
                }
                Job::Bot { replies } => {
                    for reply in replies {
                        let message = ChatMessage {
                            id: next_id(),
                            user: UserName::bot(),
                            body: MessageBody::from_bot(reply),
                            sent_at: now(),
                        };
                        broadcast(&io, BOT_MESSAGE, &message).await;
                    }
                }
            }
        }
    });
}

/// Asks the bot about `message`, off the sequencer, and queues its replies.
async fn ask_bot(
    bot: Arc<dyn ChatBot>,
    timeout: Duration,
    message: ChatMessage,
    sequencer: mpsc::WeakSender<Job>,
) {
    let replies = crate::bot::ask(
        bot.as_ref(),
        timeout,
        message.user.as_str(),
        message.body.as_str(),
    )
    .await;
    let replies: Vec<String> = replies.iter().flat_map(BotReply::plain_lines).collect();
    if replies.is_empty() {
        return;
    }
    // The server may be shutting down; then there is nobody to tell.
    if let Some(sequencer) = sequencer.upgrade()
        && sequencer.send(Job::Bot { replies }).await.is_err()
    {
        tracing::debug!("sequencer gone; bot replies dropped");
    }
}

async fn broadcast(io: &SocketIo, event: &'static str, message: &ChatMessage) {
    if let Err(error) = io.emit(event, message).await {
        // Some sockets could not take it (closed, or too far behind); the rest did.
        tracing::warn!(%error, event, id = message.id.0, "broadcast incomplete");
    }
}

/// The time to stamp on a message.
fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}
