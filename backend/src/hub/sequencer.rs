//! One task puts every group message in a single order: it stores them,
//! then broadcasts them and acks their senders, one batch at a time, so
//! every client sees the same messages in the same order, nothing is seen
//! or acknowledged before it is on disk, and one disk sync covers a batch.
//!
//! Joining goes through the same task: a socket gets what it missed and
//! only then joins the broadcast room, so it never sees a gap, a duplicate,
//! or a live message before older ones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shared::events::{BOT_MESSAGE, HISTORY, NEW_MESSAGE};
use shared::{
    ChatMessage, ClientMessageId, History, MessageBody, MessageId, RoomName, SendOutcome,
    Timestamp, UserName,
};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef};
use tokio::sync::mpsc;

use super::reads::Reads;
use super::refusal::{self, Refusal};
use super::rooms::{self, GROUP};
use crate::bot::{BotReply, ChatBot, Speaker};
use crate::metrics::Metrics;
use crate::store::{Appended, Draft, Store, StoreError, Stored, append_blocking};

/// Messages waiting for the sequencer. Beyond this the server is overloaded
/// and refuses new messages rather than queueing without bound.
const QUEUE_CAPACITY: usize = 4096;

/// Most jobs taken in one batch (one transaction, one sync).
const MAX_BATCH: usize = 256;

/// How many recent messages a fresh client gets.
pub(crate) const RECENT: usize = 100;

/// A client further behind than this gets the recent messages instead of
/// everything it missed.
const MAX_CATCH_UP: usize = 1000;

/// Most bytes of message text (names and bodies) in one page of history,
/// so a page is one bounded packet whatever the messages are: a client
/// further behind than this gets the latest page and pages back with
/// `older`.
pub(crate) const PAGE_BYTES: usize = 128 * 1024;

/// What a message adds to a page besides its name and body: the JSON keys,
/// id, time and client id.
const MESSAGE_OVERHEAD_BYTES: usize = 128;

/// Something for the sequencer to do.
enum Job {
    /// A person's validated message, with the ack to send once it is stored.
    User {
        room: RoomName,
        user: UserName,
        /// The sender's session user, when it has one.
        user_id: Option<String>,
        body: MessageBody,
        client_id: Option<ClientMessageId>,
        socket: SocketRef,
        ack: AckSender,
    },
    /// The bot's answer to one message, published together and in order.
    Bot {
        room: RoomName,
        /// The id of the message they answer.
        answers: u64,
        replies: Vec<String>,
    },
    /// A socket entering `room`, having its messages up to `last_id`.
    Join {
        socket: SocketRef,
        room: RoomName,
        last_id: Option<u64>,
    },
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

/// A person's message for the sequencer: the room, who says it (name and
/// session user), and what.
pub(crate) struct Said {
    pub(crate) room: RoomName,
    pub(crate) user: UserName,
    pub(crate) user_id: Option<String>,
    pub(crate) body: MessageBody,
}

/// The sequencer's queue is full; the message was not queued and its ack is handed back.
pub(crate) struct Overloaded(pub(crate) AckSender);

/// The receiving end, until [`start`] gets the Socket.IO handle.
pub(crate) struct Pending {
    jobs: mpsc::Receiver<Job>,
    weak: mpsc::WeakSender<Job>,
}

/// What the sequencer works with.
pub(crate) struct Context {
    pub(crate) io: SocketIo,
    pub(crate) reads: Reads,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) bot: Arc<dyn ChatBot>,
    pub(crate) bot_timeout: Duration,
    pub(crate) metrics: Arc<Metrics>,
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

    /// Queues a validated message; its ack is sent once it is stored and
    /// broadcast. Called in the order a socket's messages arrive, which is
    /// the order they are published in.
    pub(crate) fn publish(
        &self,
        said: Said,
        client_id: Option<ClientMessageId>,
        socket: SocketRef,
        ack: AckSender,
    ) -> Result<(), Overloaded> {
        let Said {
            room,
            user,
            user_id,
            body,
        } = said;
        let job = Job::User {
            room,
            user,
            user_id,
            body,
            client_id,
            socket,
            ack,
        };
        self.jobs
            .try_send(job)
            .map_err(|error| match error.into_inner() {
                Job::User { ack, .. } => Overloaded(ack),
                Job::Bot { .. } | Job::Join { .. } => unreachable!("only user jobs are sent here"),
            })
    }

    /// Asks the bot about a stored `message` (one a crash left unanswered),
    /// off the sequencer; its replies are published like any other.
    pub(crate) fn ask(
        &self,
        message: ChatMessage,
        bot: Arc<dyn ChatBot>,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) {
        let ask = ask_bot(bot, timeout, message, self.jobs.downgrade(), metrics);
        tokio::spawn(ask);
    }

    /// Sends `socket` what it missed of `room` after `last_id`, then lets it
    /// hear the room's live messages.
    pub(crate) async fn join(&self, socket: SocketRef, room: RoomName, last_id: Option<u64>) {
        let job = Job::Join {
            socket,
            room,
            last_id,
        };
        if self.jobs.send(job).await.is_err() {
            tracing::debug!("sequencer gone; join dropped");
        }
    }
}

/// What the storing stage hands the publishing stage, in order.
enum Step {
    /// Write jobs and what became of them in the store.
    Stored {
        writes: Vec<Job>,
        result: Result<Vec<Appended>, StoreError>,
    },
    /// A socket to bring up to date and add to the room.
    Join {
        socket: SocketRef,
        room: RoomName,
        last_id: Option<u64>,
    },
}

/// Batches the publishing stage may be behind the storing stage.
const STAGE_DEPTH: usize = 4;

/// Runs the sequencer until every [`Sequencer`] handle is gone: one task
/// stores batches, another publishes them in the same order, so the disk
/// sync of one batch overlaps the broadcasts of the one before.
pub(crate) fn start(pending: Pending, context: Context) {
    let Pending { mut jobs, weak } = pending;
    let context = Arc::new(context);
    let (steps, mut stored) = mpsc::channel::<Step>(STAGE_DEPTH);
    let store = context.store.clone();
    let metrics = context.metrics.clone();
    let (started, start_at) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Read before anything new is stored: everything up to here is published.
        let reading = store.clone();
        let latest = until_read("the rooms' latest ids", move || {
            let store = reading.clone();
            async move {
                tokio::task::spawn_blocking(move || store.latest_ids(GROUP))
                    .await
                    .unwrap_or_else(|panic| Err(StoreError::Failed(panic.to_string())))
            }
        })
        .await;
        let _ = started.send(latest.into_iter().collect::<HashMap<_, _>>());
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let mut writes = Vec::new();
            for job in batch.drain(..) {
                match job {
                    Job::Join {
                        socket,
                        room,
                        last_id,
                    } => {
                        let earlier = std::mem::take(&mut writes);
                        let sent = match save(&store, earlier, &metrics).await {
                            Some(step) => steps.send(step).await,
                            None => Ok(()),
                        };
                        let join = Step::Join {
                            socket,
                            room,
                            last_id,
                        };
                        if sent.is_err() || steps.send(join).await.is_err() {
                            return;
                        }
                    }
                    write => writes.push(write),
                }
            }
            if let Some(step) = save(&store, writes, &metrics).await
                && steps.send(step).await.is_err()
            {
                return;
            }
        }
    });
    tokio::spawn(async move {
        // Joining sockets get history up to what was published, never beyond:
        // later messages reach them live.
        let Ok(mut published) = start_at.await else {
            return;
        };
        while let Some(step) = stored.recv().await {
            match step {
                Step::Stored { writes, result } => {
                    for (room, last) in publish(&context, writes, result, &weak).await {
                        let latest = published.entry(room).or_default();
                        *latest = (*latest).max(last);
                    }
                }
                Step::Join {
                    socket,
                    room,
                    last_id,
                } => {
                    let latest = published.get(&rooms::key(&room)).copied().unwrap_or(0);
                    join(&context, &socket, room, last_id, latest).await;
                }
            }
        }
    });
}

/// First wait between attempts to read what the sequencer starts from.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Longest wait between those attempts.
const LAST_RETRY: Duration = Duration::from_secs(5);

/// Reads with `read` until it works, waiting longer between attempts (up to
/// [`LAST_RETRY`]) and logging each failure. What the sequencer starts from
/// must be true: taking "nothing" for a failed read would send joining
/// clients the wrong history.
async fn until_read<T, F, R>(what: &str, read: R) -> T
where
    F: std::future::Future<Output = Result<T, StoreError>>,
    R: Fn() -> F,
{
    let mut wait = FIRST_RETRY;
    loop {
        match read().await {
            Ok(value) => return value,
            Err(error) => {
                tracing::error!(%error, retry_in_ms = wait.as_millis(), "cannot read {what}; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(LAST_RETRY);
            }
        }
    }
}

/// Stores the drafts of `writes` in one step; `None` when there is nothing to store.
async fn save(store: &Arc<dyn Store>, writes: Vec<Job>, metrics: &Metrics) -> Option<Step> {
    if writes.is_empty() {
        return None;
    }
    let sent_at = now();
    let drafts: Vec<Draft> = writes.iter().flat_map(|job| drafts(job, sent_at)).collect();
    let (count, started) = (drafts.len(), std::time::Instant::now());
    let result = append_blocking(store, drafts).await;
    metrics.appended(count, started.elapsed());
    Some(Step::Stored { writes, result })
}

/// Broadcasts and acks stored writes in order, or refuses them all when
/// they could not be stored. Returns the last id published in each room
/// (by its store key).
async fn publish(
    context: &Context,
    writes: Vec<Job>,
    result: Result<Vec<Appended>, StoreError>,
    sequencer: &mpsc::WeakSender<Job>,
) -> HashMap<String, u64> {
    let mut stored = match result {
        Ok(stored) => stored.into_iter(),
        Err(error) => {
            tracing::error!(%error, "cannot store messages; senders are told");
            for job in writes {
                match job {
                    Job::User { socket, ack, .. } => {
                        refusal::refuse(&socket, &Refusal::Unavailable, ack, &context.metrics);
                    }
                    Job::Bot { replies, .. } => {
                        tracing::warn!(count = replies.len(), "bot replies not stored, not sent");
                    }
                    Job::Join { .. } => {}
                }
            }
            return HashMap::new();
        }
    };
    let mut last = HashMap::new();
    for job in writes {
        match job {
            Job::User { ack, .. } => {
                let Some(appended) = stored.next() else { break };
                let message = chat_message(appended.stored());
                if let Appended::New(stored) = appended {
                    context.metrics.accepted();
                    broadcast(&context.io, &stored.draft.room, NEW_MESSAGE, &message).await;
                    last.insert(stored.draft.room.clone(), message.id.0);
                    tokio::spawn(ask_bot(
                        context.bot.clone(),
                        context.bot_timeout,
                        message.clone(),
                        sequencer.clone(),
                        context.metrics.clone(),
                    ));
                }
                // A resend of a stored message is acknowledged again, not shown again.
                if let Err(error) = ack.send(&SendOutcome::Accepted { id: message.id }) {
                    tracing::debug!(%error, "cannot send ack");
                }
            }
            Job::Bot { replies, .. } => {
                for appended in stored.by_ref().take(replies.len()) {
                    let stored = appended.stored();
                    let message = chat_message(stored);
                    broadcast(&context.io, &stored.draft.room, BOT_MESSAGE, &message).await;
                    last.insert(stored.draft.room.clone(), message.id.0);
                }
            }
            Job::Join { .. } => {}
        }
    }
    last
}

/// The drafts a write job stores: one per message.
fn drafts(job: &Job, sent_at: Timestamp) -> Vec<Draft> {
    let draft = |room: &RoomName, author: &str, body: &str| Draft {
        room: rooms::key(room),
        author: author.to_owned(),
        body: body.to_owned(),
        extra: None,
        client_id: None,
        sent_at: sent_at.0,
    };
    match job {
        Job::User {
            room,
            user,
            user_id,
            body,
            client_id,
            ..
        } => vec![Draft {
            extra: user_id.as_ref().map(|id| Extra::author(id)),
            client_id: client_id.as_ref().map(|id| id.as_str().to_owned()),
            ..draft(room, user.as_str(), body.as_str())
        }],
        Job::Bot {
            room,
            answers,
            replies,
        } => replies
            .iter()
            .map(|reply| Draft {
                extra: Some(Extra::answer(*answers)),
                ..draft(room, shared::BOT_NAME, reply)
            })
            .collect(),
        Job::Join { .. } => Vec::new(),
    }
}

/// Sends `socket` the messages of `room` it missed, then adds it to the room.
async fn join(
    context: &Context,
    socket: &SocketRef,
    room: RoomName,
    last_id: Option<u64>,
    published: u64,
) {
    let key = rooms::key(&room);
    let history = context
        .reads
        .run(move |store| missed(store, &room, last_id, published))
        .await;
    let sent = match history {
        Ok(history) => {
            context.metrics.caught_up(history.messages.len());
            socket.emit(HISTORY, &history).map_err(|e| e.to_string())
        }
        Err(error) => Err(error.to_string()),
    };
    match sent {
        Ok(()) => socket.join(key),
        Err(error) => {
            // Joining without its history would leave a hole; the client
            // reconnects and asks again.
            tracing::warn!(sid = %socket.id, %error, "cannot send history; disconnecting");
            let _ = socket.clone().disconnect();
        }
    }
}

/// What a client with messages up to `last_id` should get, of the messages
/// published so far (up to id `published`; later ones it gets live).
fn missed(
    store: &dyn Store,
    room: &RoomName,
    last_id: Option<u64>,
    published: u64,
) -> Result<History, StoreError> {
    if let Some(last_id) = last_id.filter(|&id| id <= published)
        && published - last_id <= MAX_CATCH_UP as u64
    {
        let limit = usize::try_from(published - last_id).unwrap_or(MAX_CATCH_UP);
        let messages = store.after(&rooms::key(room), last_id, limit)?;
        if page_bytes(&messages) <= PAGE_BYTES {
            return Ok(History {
                room: room.clone(),
                messages: messages.iter().map(chat_message).collect(),
                reset: false,
                more: false,
            });
        }
    }
    // Fresh, too far behind (in messages or in bytes), or from before the
    // history was wiped: the latest published, replacing whatever the
    // client had; it pages back with `older`.
    let mut history = recent(store, room, published + 1)?;
    history.reset = true;
    Ok(history)
}

/// Up to [`RECENT`] messages of `room` before id `before`, oldest first, the
/// oldest left out where they would make the page bigger than [`PAGE_BYTES`].
pub(crate) fn recent(
    store: &dyn Store,
    room: &RoomName,
    before: u64,
) -> Result<History, StoreError> {
    let mut messages = store.before(&rooms::key(room), Some(before), RECENT)?;
    keep_latest_page(&mut messages);
    let more = messages.first().is_some_and(|first| first.id > 1);
    Ok(History {
        room: room.clone(),
        messages: messages.iter().map(chat_message).collect(),
        reset: false,
        more,
    })
}

/// The bytes `messages` add to a page of history, roughly.
fn page_bytes(messages: &[Stored]) -> usize {
    messages.iter().map(message_bytes).sum()
}

fn message_bytes(stored: &Stored) -> usize {
    stored.draft.author.len()
        + stored.draft.body.len()
        + stored.draft.extra.as_ref().map_or(0, String::len)
        + MESSAGE_OVERHEAD_BYTES
}

/// Drops the oldest of `messages` (oldest first) until they fit in a page;
/// the latest one is always kept.
pub(crate) fn keep_latest_page(messages: &mut Vec<Stored>) {
    let mut bytes = 0;
    let fitting = messages
        .iter()
        .rev()
        .take_while(|stored| {
            bytes += message_bytes(stored);
            bytes <= PAGE_BYTES
        })
        .count()
        .max(1);
    let drop = messages.len().saturating_sub(fitting);
    messages.drain(..drop);
}

/// A stored group message as clients see it.
pub(crate) fn chat_message(stored: &Stored) -> ChatMessage {
    let draft = &stored.draft;
    let extra = Extra::of(stored);
    ChatMessage {
        id: MessageId(stored.id),
        // Stored names passed validation (or are the bot's) when they were accepted.
        user: UserName::from_store(draft.author.clone()),
        body: MessageBody::from_store(draft.body.clone()),
        sent_at: Timestamp(draft.sent_at),
        client_id: draft
            .client_id
            .as_deref()
            .and_then(|id| ClientMessageId::parse(id).ok()),
        room: rooms::name(&draft.room),
        user_id: extra.user_id,
        answers: extra.answers.map(MessageId),
    }
}

/// What a group message keeps beside its name and body, as JSON in the
/// draft's `extra`: a person's session user, or the message a bot reply
/// answers.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Extra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) answers: Option<u64>,
}

impl Extra {
    fn author(user_id: &str) -> String {
        serde_json::json!({"user_id": user_id}).to_string()
    }

    fn answer(id: u64) -> String {
        serde_json::json!({"answers": id}).to_string()
    }

    /// What `stored` keeps, if anything.
    pub(crate) fn of(stored: &Stored) -> Self {
        stored
            .draft
            .extra
            .as_deref()
            .and_then(|extra| serde_json::from_str(extra).ok())
            .unwrap_or_default()
    }
}

/// Asks the bot about `message`, off the sequencer, and queues its replies.
async fn ask_bot(
    bot: Arc<dyn ChatBot>,
    timeout: Duration,
    message: ChatMessage,
    sequencer: mpsc::WeakSender<Job>,
    metrics: Arc<Metrics>,
) {
    let name = message.user.as_str();
    let room = message.room.clone();
    let conversation = format!("{}:{name}", rooms::key(&room));
    let speaker = Speaker::new(&conversation, name);
    let asked = std::time::Instant::now();
    let replies = crate::bot::ask(bot.as_ref(), timeout, speaker, message.body.as_str()).await;
    metrics.bot_answered(asked.elapsed(), crate::bot::failed(&replies));
    let replies: Vec<String> = replies.iter().flat_map(BotReply::plain_lines).collect();
    if replies.is_empty() {
        return;
    }
    let answers = message.id.0;
    // The server may be shutting down; then there is nobody to tell.
    if let Some(sequencer) = sequencer.upgrade()
        && sequencer
            .send(Job::Bot {
                room,
                answers,
                replies,
            })
            .await
            .is_err()
    {
        tracing::debug!("sequencer gone; bot replies dropped");
    }
}

async fn broadcast(io: &SocketIo, key: &str, event: &'static str, message: &ChatMessage) {
    if let Err(error) = io.to(key.to_owned()).emit(event, message).await {
        // Some sockets could not take it (closed, or too far behind); the rest did.
        tracing::warn!(%error, event, id = message.id.0, "broadcast incomplete");
    }
}

/// The time to stamp on a message.
pub(crate) fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_at_start_is_retried_never_taken_for_nothing() {
        let attempts = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let latest = until_read("a test value", || {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt < 3 {
                    Err(StoreError::Failed("the disk is busy".to_owned()))
                } else {
                    Ok(vec![("group".to_owned(), 42)])
                }
            }
        })
        .await;
        assert_eq!(latest, [("group".to_owned(), 42)]);
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
        // 100 + 200 + 400 ms of waiting, on tokio's paused clock.
        assert_eq!(started.elapsed(), Duration::from_millis(700));
    }
}
