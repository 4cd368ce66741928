//! One task puts every group message in a single order: it stores them,
//! then broadcasts them and acks their senders, one batch at a time, so
//! every client sees the same messages in the same order, nothing is seen
//! or acknowledged before it is on disk, and one disk sync covers a batch.
//!
//! Joining goes through the same task: a socket gets what it missed and
//! only then joins the broadcast room, so it never sees a gap, a duplicate,
//! or a live message before older ones.
//!
//! The sequencer only orders and stores: the [`publisher`](super::publisher)
//! sends out what is stored (with a shared store, what every node stored),
//! and each new message goes out to be answered
//! ([`answers`](super::answers)); the bot's replies come back here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shared::{ClientMessageId, MessageBody, RoomName, Timestamp, UserName};
use socketioxide::extract::{AckSender, SocketRef};
use tokio::sync::mpsc;

use super::answers::Questions;
use super::conversation::{GROUP, PRIVATE, room_key};
use super::history::{Extra, now};
use super::publisher::{self, Context, Sender, Step};
use super::unsaved::Unsaved;
use crate::metrics::Metrics;
use crate::store::{Appended, Draft, Store, StoreError};

/// Messages waiting for the sequencer. Beyond this the server is overloaded
/// and refuses new messages rather than queueing without bound.
const QUEUE_CAPACITY: usize = 4096;

/// Most jobs taken in one batch (one transaction, one sync).
const MAX_BATCH: usize = 256;

/// Sockets waiting to enter a room. They have a queue of their own, where
/// they wait for room instead of being refused: 10,000 clients coming back
/// after a restart must not fill the messages' queue, or the people already
/// there would have their messages refused as `overloaded` until the
/// joins were through.
const JOIN_QUEUE_CAPACITY: usize = 1024;

/// Most joins taken at once, so that messages are never behind many of
/// them (each reads its room's history).
const MAX_JOINS: usize = 32;

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
    /// Say when everything queued before is stored and sent out.
    Flush(tokio::sync::oneshot::Sender<()>),
    /// Like a flush, then both stages end: the server is closing.
    Stop(tokio::sync::oneshot::Sender<()>),
}

impl Job {
    /// Whether this job is stored (a person's message or the bot's answer).
    fn is_write(&self) -> bool {
        matches!(self, Self::User { .. } | Self::Bot { .. })
    }

    /// Whether someone waits for this job to be done, so its batch goes at
    /// once (a flush or a stop, when a node drains).
    fn is_urgent(&self) -> bool {
        matches!(self, Self::Flush(_) | Self::Stop(_))
    }
}

/// Hands messages to the sequencer. A cheap `Clone` handle.
#[derive(Clone)]
pub(crate) struct Sequencer {
    jobs: mpsc::Sender<Job>,
    joins: mpsc::Sender<Job>,
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
    joins: mpsc::Receiver<Job>,
}

/// A handle that does not keep the sequencer alive, for the bot's answers.
#[derive(Debug, Clone)]
pub(crate) struct WeakSequencer(mpsc::WeakSender<Job>);

impl WeakSequencer {
    /// Queues the bot's `replies` to message `answers` of `room`, to be
    /// stored and published together; dropped when the server is stopping.
    pub(crate) async fn publish_answer(&self, room: RoomName, answers: u64, replies: Vec<String>) {
        let job = Job::Bot {
            room,
            answers,
            replies,
        };
        let sent = match self.0.upgrade() {
            Some(jobs) => jobs.send(job).await.is_ok(),
            None => false,
        };
        if !sent {
            tracing::debug!("sequencer gone; bot replies dropped");
        }
    }
}

impl Sequencer {
    /// A handle and the queue it feeds; [`start`] the queue once the server exists.
    pub(crate) fn new() -> (Self, Pending) {
        let (jobs, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let (joins, joining) = mpsc::channel(JOIN_QUEUE_CAPACITY);
        (
            Self { jobs, joins },
            Pending {
                jobs: receiver,
                joins: joining,
            },
        )
    }

    /// A handle that does not keep the sequencer alive.
    pub(crate) fn downgrade(&self) -> WeakSequencer {
        WeakSequencer(self.jobs.downgrade())
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
        self.jobs.try_send(job).map_err(|error| {
            if matches!(error, mpsc::error::TrySendError::Closed(_)) {
                // A bug: its task is gone (a panic), and nothing can be stored.
                tracing::error!("the sequencer has stopped; messages are refused");
            }
            match error.into_inner() {
                Job::User { ack, .. } => Overloaded(ack),
                Job::Bot { .. } | Job::Join { .. } | Job::Flush(_) | Job::Stop(_) => {
                    unreachable!("only user jobs are sent here")
                }
            }
        })
    }

    /// Sends `socket` what it missed of `room` after `last_id`, then lets it
    /// hear the room's live messages.
    pub(crate) async fn join(&self, socket: SocketRef, room: RoomName, last_id: Option<u64>) {
        let job = Job::Join {
            socket,
            room,
            last_id,
        };
        if self.joins.send(job).await.is_err() {
            tracing::debug!("sequencer gone; join dropped");
        }
    }

    /// Resolves once everything queued before it is stored, sent out and
    /// acknowledged (or refused), and its questions are with the bot.
    pub(crate) async fn flush(&self) {
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    /// Flushes, then ends the storing and the publishing stage, before the
    /// server closes its namespace: nothing is sent out after that (nor
    /// could be), and the feed from other nodes stops with them.
    pub(crate) async fn stop(&self) {
        let (done, stopped) = tokio::sync::oneshot::channel();
        if self.jobs.send(Job::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }
}

/// Batches the publishing stage may be behind the storing stage.
const STAGE_DEPTH: usize = 4;

/// Runs the sequencer until every [`Sequencer`] handle is gone: one task
/// stores batches, the [`publisher`] sends them out in the same order, so
/// the disk sync of one batch overlaps the broadcasts of the one before.
pub(crate) fn start(
    pending: Pending,
    context: Context,
    handoffs: mpsc::UnboundedReceiver<publisher::Handoff>,
    group_commit: Duration,
) {
    let Pending {
        mut jobs,
        mut joins,
    } = pending;
    let context = Arc::new(context);
    let (steps, stored) = mpsc::channel::<Step>(STAGE_DEPTH);
    let store = context.store.clone();
    let metrics = context.metrics.clone();
    let questions = context.published.clone();
    // Listening starts before the latest ids are read, so nothing stored
    // by another node in between is missed.
    let feed = store.feed();
    let (started, start_at) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Read before anything new is stored: everything up to here is published.
        let mut latest = HashMap::new();
        for prefix in [GROUP, PRIVATE] {
            let ids = until_read("the rooms' latest ids", || store.latest_ids(prefix)).await;
            latest.extend(ids);
        }
        let _ = started.send(latest);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut window = GroupCommit::new(group_commit);
        let mut entering = Vec::with_capacity(MAX_JOINS);
        let mut joining = true;
        loop {
            tokio::select! {
                received = jobs.recv_many(&mut batch, MAX_BATCH) => {
                    if received == 0 {
                        return;
                    }
                    window.gather(&mut jobs, &mut batch).await;
                }
                received = joins.recv_many(&mut entering, MAX_JOINS), if joining => {
                    joining = received > 0;
                    batch.append(&mut entering);
                }
            }
            let commits = batch.iter().any(Job::is_write);
            let mut writes = Vec::new();
            for job in batch.drain(..) {
                // A join or a flush waits for the writes queued before it.
                let barrier = match job {
                    Job::Join {
                        socket,
                        room,
                        last_id,
                    } => Step::Join {
                        socket,
                        room,
                        last_id,
                    },
                    Job::Flush(done) => Step::Flush(done),
                    Job::Stop(done) => Step::Stop(done),
                    write => {
                        writes.push(write);
                        continue;
                    }
                };
                let stopping = matches!(barrier, Step::Stop(_));
                let earlier = std::mem::take(&mut writes);
                let mut stored = save(&store, &questions, earlier, &metrics).await;
                stored.push(barrier);
                for step in stored {
                    if steps.send(step).await.is_err() {
                        return;
                    }
                }
                if stopping {
                    return;
                }
            }
            for step in save(&store, &questions, writes, &metrics).await {
                if steps.send(step).await.is_err() {
                    return;
                }
            }
            if commits {
                window.committed_at(tokio::time::Instant::now());
            }
        }
    });
    tokio::spawn(async move {
        // Joining sockets get history up to what was published, never beyond:
        // later messages reach them live.
        let Ok(published) = start_at.await else {
            return;
        };
        publisher::run(context, stored, handoffs, feed, published).await;
    });
}

/// Group commit: when the last batch was stored a moment ago, more
/// messages are likely on their way, so the next batch waits for them until
/// `window` after that commit (or until it is full) and they share one disk
/// sync and one write per socket. After a quiet spell nothing waits: a lone
/// message is stored at once.
#[derive(Debug)]
struct GroupCommit {
    window: Duration,
    last: Option<tokio::time::Instant>,
}

impl GroupCommit {
    fn new(window: Duration) -> Self {
        Self { window, last: None }
    }

    /// Adds to `batch` what arrives on `jobs` until the window closes, the
    /// batch is full, or a job that must not wait (a flush) is in it.
    async fn gather(&self, jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
        let Some(last) = self.last else { return };
        let until = last + self.window;
        if until <= tokio::time::Instant::now() {
            return;
        }
        while batch.len() < MAX_BATCH && !batch.iter().any(Job::is_urgent) {
            tokio::select! {
                received = jobs.recv_many(batch, MAX_BATCH - batch.len()) => {
                    if received == 0 {
                        return;
                    }
                }
                () = tokio::time::sleep_until(until) => return,
            }
        }
    }

    /// A batch was stored at `at`.
    fn committed_at(&mut self, at: tokio::time::Instant) {
        self.last = (!self.window.is_zero()).then_some(at);
    }
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

/// Stores the drafts of `writes` in one batch, each person's message with
/// the bot's answer when its engine answers at once, and says what the
/// publishing stage is to do: with the messages held back first (their
/// senders' earlier messages could not be stored, see [`Unsaved`]), then
/// with what was stored, or could not be.
async fn save(
    store: &Arc<dyn Store>,
    questions: &Questions,
    writes: Vec<Job>,
    metrics: &Metrics,
) -> Vec<Step> {
    let (writes, held) = hold_back(writes);
    let mut steps = Vec::new();
    if !held.is_empty() {
        steps.push(Step::Held { senders: held });
    }
    if writes.is_empty() {
        return steps;
    }
    let sent_at = now();
    let mut batch: Vec<Draft> = Vec::with_capacity(writes.len() * 2);
    for job in &writes {
        let first = batch.len();
        batch.extend(drafts(job, sent_at));
        batch.extend(answered_now(job, questions, first, sent_at));
    }
    let (count, started) = (batch.len(), std::time::Instant::now());
    let result = store.append(batch).await;
    metrics.appended(count, started.elapsed());
    if result.is_err() {
        remember_unsaved(&writes);
    }
    steps.push(outcome(writes, result));
    steps
}

/// Splits `writes` into those to store and the senders of those held back:
/// messages of sockets that wait for a message that could not be stored
/// to be sent again.
fn hold_back(writes: Vec<Job>) -> (Vec<Job>, Vec<Sender>) {
    let mut held = Vec::new();
    let mut kept = Vec::with_capacity(writes.len());
    for job in writes {
        let admitted = match &job {
            Job::User {
                socket, client_id, ..
            } => admitted(socket, client_id.as_ref()),
            Job::Bot { .. } | Job::Join { .. } | Job::Flush(_) | Job::Stop(_) => true,
        };
        match job {
            Job::User { socket, ack, .. } if !admitted => held.push(Sender { socket, ack }),
            job => kept.push(job),
        }
    }
    (kept, held)
}

/// Whether `socket`'s message with `client_id` may be stored now (see [`Unsaved`]).
fn admitted(socket: &SocketRef, client_id: Option<&ClientMessageId>) -> bool {
    let Some(mut unsaved) = socket.extensions.get::<Unsaved>() else {
        return true;
    };
    let admitted = unsaved.admits(
        client_id.map(ClientMessageId::as_str),
        std::time::Instant::now(),
    );
    if unsaved.is_empty() {
        socket.extensions.remove::<Unsaved>();
    } else {
        socket.extensions.insert(unsaved);
    }
    admitted
}

/// The people's messages of `writes` could not be stored: each socket's
/// later messages wait until they are sent again.
fn remember_unsaved(writes: &[Job]) {
    let mut failed: Vec<(&SocketRef, Vec<&str>)> = Vec::new();
    for job in writes {
        if let Job::User {
            socket,
            client_id: Some(client_id),
            ..
        } = job
        {
            match failed.iter_mut().find(|(s, _)| s.id == socket.id) {
                Some((_, ids)) => ids.push(client_id.as_str()),
                None => failed.push((socket, vec![client_id.as_str()])),
            }
        }
    }
    for (socket, ids) in failed {
        let mut unsaved = socket.extensions.get::<Unsaved>().unwrap_or_default();
        unsaved.failed(ids.into_iter(), std::time::Instant::now());
        socket.extensions.insert(unsaved);
    }
}

/// What the publishing stage is to do with `writes`, stored as `result`.
fn outcome(writes: Vec<Job>, result: Result<Vec<Appended>, StoreError>) -> Step {
    let mut replies = 0;
    let senders = writes.into_iter().filter_map(|job| match job {
        Job::User { socket, ack, .. } => Some(Sender { socket, ack }),
        Job::Bot { replies: lines, .. } => {
            replies += lines.len();
            None
        }
        Job::Join { .. } | Job::Flush(_) | Job::Stop(_) => None,
    });
    let appended = match result {
        Ok(appended) => appended,
        Err(error) => {
            let senders = senders.collect();
            if replies > 0 {
                tracing::warn!(count = replies, "bot replies not stored, not sent");
            }
            return Step::Failed { senders, error };
        }
    };
    // The drafts are in job order: one per user job (then the bot's
    // immediate answer to it, if any), one per bot reply.
    let mut acks = Vec::new();
    let mut new = Vec::new();
    let mut senders = senders;
    for appended in appended {
        // An answer to a resend, answered when it was first stored.
        let Some(stored) = appended.stored() else {
            continue;
        };
        if stored.draft.author != shared::BOT_NAME
            && let Some(sender) = senders.next()
        {
            acks.push((sender, stored.draft.room.clone(), stored.id));
        }
        if let Appended::New(stored) = appended {
            new.push(stored);
        }
    }
    Step::Stored { acks, new }
}

/// The bot's answer to a person's message `job`, when its engine answers
/// at once: a draft per line, answering the draft at `question` in the batch.
fn answered_now(
    job: &Job,
    questions: &Questions,
    question: usize,
    sent_at: Timestamp,
) -> Vec<Draft> {
    let Job::User {
        room, user, body, ..
    } = job
    else {
        return Vec::new();
    };
    let Some(lines) = questions.answer_now(room, user.as_str(), body.as_str()) else {
        return Vec::new();
    };
    lines
        .into_iter()
        .map(|line| Draft {
            in_answer_to: Some(question),
            ..draft(room, shared::BOT_NAME, &line, sent_at)
        })
        .collect()
}

/// A draft of `body` by `author` in `room`, with nothing else.
fn draft(room: &RoomName, author: &str, body: &str, sent_at: Timestamp) -> Draft {
    Draft {
        room: room_key(room),
        author: author.to_owned(),
        body: body.to_owned(),
        extra: None,
        client_id: None,
        sent_at: sent_at.0,
        in_answer_to: None,
    }
}

/// The drafts a write job stores: one per message.
fn drafts(job: &Job, sent_at: Timestamp) -> Vec<Draft> {
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
            ..draft(room, user.as_str(), body.as_str(), sent_at)
        }],
        Job::Bot {
            room,
            answers,
            replies,
        } => replies
            .iter()
            .map(|reply| Draft {
                extra: Some(Extra::answer(*answers)),
                ..draft(room, shared::BOT_NAME, reply, sent_at)
            })
            .collect(),
        Job::Join { .. } | Job::Flush(_) | Job::Stop(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn answer(to: u64) -> Job {
        Job::Bot {
            room: RoomName::general(),
            answers: to,
            replies: vec!["hi".to_owned()],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn right_after_a_commit_a_batch_waits_for_more_until_the_window_closes() {
        let (jobs, mut queue) = mpsc::channel(16);
        let mut window = GroupCommit::new(Duration::from_millis(5));
        let start = tokio::time::Instant::now();
        window.committed_at(start);
        let later = jobs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let _ = later.send(answer(2)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            let _ = later.send(answer(3)).await;
        });
        let mut batch = vec![answer(1)];
        window.gather(&mut queue, &mut batch).await;
        assert_eq!(
            batch.len(),
            2,
            "the second came within the window, the third after"
        );
        assert_eq!(start.elapsed(), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_quiet_spell_or_with_a_flush_nothing_waits() {
        let (_jobs, mut queue) = mpsc::channel(16);
        let mut window = GroupCommit::new(Duration::from_millis(5));
        let start = tokio::time::Instant::now();
        let mut batch = vec![answer(1)];
        window.gather(&mut queue, &mut batch).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "no commit yet");

        window.committed_at(start);
        tokio::time::sleep(Duration::from_millis(6)).await;
        let quiet = tokio::time::Instant::now();
        window.gather(&mut queue, &mut batch).await;
        assert_eq!(
            quiet.elapsed(),
            Duration::ZERO,
            "the last commit is past the window"
        );

        window.committed_at(tokio::time::Instant::now());
        let (done, _) = tokio::sync::oneshot::channel();
        let mut draining = vec![answer(2), Job::Flush(done)];
        let flushing = tokio::time::Instant::now();
        window.gather(&mut queue, &mut draining).await;
        assert_eq!(flushing.elapsed(), Duration::ZERO, "a flush goes at once");

        let mut off = GroupCommit::new(Duration::ZERO);
        off.committed_at(tokio::time::Instant::now());
        let at = tokio::time::Instant::now();
        off.gather(&mut queue, &mut batch).await;
        assert_eq!(at.elapsed(), Duration::ZERO, "a zero window never waits");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_at_start_is_retried_never_taken_for_nothing() {
        let attempts = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let latest = until_read("a test value", || {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt < 3 {
                    Err(StoreError::Failed("the disk is busy".into()))
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
