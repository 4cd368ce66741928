//! The publishing stage: sends this node's sockets every stored message of
//! the group rooms and the private conversations, in id order per room,
//! whichever node stored it, then acks the senders; and brings sockets
//! joining a group room up to date before they hear it live, so they never
//! see a gap, a duplicate, or a live message before older ones.
//!
//! Each room has a mark, the last id sent out. Messages this node stored
//! arrive with their rows and go out at once when they follow the mark.
//! With a shared store, the [`feed`](crate::store::Notice) says what other
//! nodes stored; anything beyond the mark is read from the store, so a
//! missed notification delays a message, never loses or reorders it. The
//! feed is also read again every [`RESYNC_EVERY`], for the same reason. A
//! room with nobody on this node is not read: its mark moves on, and
//! whoever joins later reads its history.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use shared::events::{BOT_MESSAGE, HISTORY, NEW_MESSAGE};
use shared::{ChatMessage, MessageId, RoomName, SendOutcome};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef};
use tokio::sync::{mpsc, oneshot};

use super::answers::Questions;
use super::conversation::{GROUP, PRIVATE, room_key};
use super::dialect::Dialects;
use super::history::{EncodedPage, History, PageError, PageKey, chat_message};
use super::private_feed::{self, Origin, Saying};
use super::refusal::{self, Refusal};
use super::relay;
use crate::metrics::Metrics;
use crate::store::{Notice, Store, StoreError, Stored};

/// How often a node with a shared store reads every room's latest id, in
/// case a notification was lost.
const RESYNC_EVERY: Duration = Duration::from_secs(5);

/// Most messages read from the store at a time while catching up a room.
const READ_PAGE: usize = 1000;

/// Messages sent out before the stage lets other tasks run, counted across
/// rooms and steps. Each socket's queue holds 256 packets and its writer
/// drains it; on one network thread the writers run only when this stage
/// yields, so a batch of 500 sent without a pause would overflow every
/// queue however fast the clients read.
const SENT_BETWEEN_YIELDS: usize = 64;

/// What the publishing stage works with.
pub(crate) struct Context {
    pub(crate) io: SocketIo,
    pub(crate) history: History,
    pub(crate) store: Arc<dyn Store>,
    /// Where each new message this node stored goes, for the bot to answer
    /// ([`answers`](super::answers)).
    pub(crate) published: Questions,
    pub(crate) metrics: Arc<Metrics>,
    /// The shape each private conversation's user speaks.
    pub(crate) dialects: Dialects,
    /// This node's id: its own notices in the feed are skipped, since what
    /// it stores reaches the stage directly.
    pub(crate) node: String,
    /// Where the private lines being said here were said.
    pub(super) saying: Saying,
}

/// Lines of private conversations this node stored, for the stage to send
/// out: the user's (with where it was said) or the bot's answer.
#[derive(Debug)]
pub(super) enum Handoff {
    /// A line the user said, on this node; where, unless [`Saying`] has it
    /// (a line with a client id).
    Said {
        stored: Stored,
        origin: Option<Origin>,
    },
    /// The bot's answer, line by line.
    Answered(Vec<Stored>),
}

/// A sender waiting for its message to be stored and sent out.
pub(super) struct Sender {
    pub(super) socket: SocketRef,
    pub(super) ack: AckSender,
}

/// What the storing stage hands the publishing stage, in order.
pub(super) enum Step {
    /// A batch is stored: the senders with what became of their messages
    /// (new or stored before, by the store key of its room), and every new
    /// row of the batch (people's and the bot's), in order.
    Stored {
        acks: Vec<(Sender, String, u64)>,
        new: Vec<Stored>,
    },
    /// A batch could not be stored: its senders are told.
    Failed {
        senders: Vec<Sender>,
        error: StoreError,
    },
    /// Messages not stored because an earlier message of their sender's
    /// could not be: their senders are told to send that one first.
    Held { senders: Vec<Sender> },
    /// A socket to bring up to date and add to the room.
    Join {
        socket: SocketRef,
        room: RoomName,
        last_id: Option<u64>,
    },
    /// Everything before is done: say so.
    Flush(oneshot::Sender<()>),
    /// Everything before is done: say so, and end.
    Stop(oneshot::Sender<()>),
}

/// Runs the stage until the storing stage ends: `published` holds each
/// room's latest id at start (everything up to it counts as sent out), and
/// `feed` what other nodes store, when the store is shared.
pub(super) async fn run(
    context: Arc<Context>,
    mut steps: mpsc::Receiver<Step>,
    mut handoffs: mpsc::UnboundedReceiver<Handoff>,
    mut feed: Option<mpsc::Receiver<Notice>>,
    published: HashMap<String, u64>,
) {
    let mut publisher = Publisher {
        context,
        published,
        waiting: HashMap::new(),
        origins: HashMap::new(),
        last_page: None,
        sent_unpaused: 0,
    };
    let mut resync = tokio::time::interval(RESYNC_EVERY);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            step = steps.recv() => match step {
                Some(Step::Stop(done)) => {
                    let _ = done.send(());
                    return;
                }
                Some(step) => publisher.step(step).await,
                None => return,
            },
            Some(handoff) = handoffs.recv() => publisher.handoff(handoff).await,
            Some(notice) = next(&mut feed) => {
                // What has piled up meanwhile is sent out together: one read
                // per room for many notices.
                let mut notices = vec![notice];
                if let Some(feed) = feed.as_mut() {
                    while notices.len() < NOTICES_AT_ONCE
                        && let Ok(more) = feed.try_recv()
                    {
                        notices.push(more);
                    }
                }
                for notice in coalesce(notices, &publisher.context.node) {
                    publisher.notice(notice).await;
                }
            }
            _ = resync.tick(), if feed.is_some() => publisher.notice(Notice::Resync).await,
        }
    }
}

/// Most notices taken from the feed at once.
const NOTICES_AT_ONCE: usize = 1024;

/// `notices` without those of what node `own` stored (it sent those out
/// already), and with those of one room merged into one with the highest
/// id (sending out up to it covers the rest), where the room's first one
/// was; relayed events and resyncs stay as they are, in order.
fn coalesce(notices: Vec<Notice>, own: &str) -> Vec<Notice> {
    let mut merged: Vec<Notice> = Vec::with_capacity(notices.len());
    for notice in notices {
        match notice {
            Notice::Stored { node, .. } if node == own => {}
            Notice::Stored { room, id, node } => {
                let earlier = merged.iter_mut().find_map(|earlier| match earlier {
                    Notice::Stored { room: r, id, .. } if *r == room => Some(id),
                    _ => None,
                });
                match earlier {
                    Some(highest) => *highest = (*highest).max(id),
                    None => merged.push(Notice::Stored { room, id, node }),
                }
            }
            other => merged.push(other),
        }
    }
    merged
}

/// The feed's next notice; never, without a feed (or once it has ended).
async fn next(feed: &mut Option<mpsc::Receiver<Notice>>) -> Option<Notice> {
    match feed {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

struct Publisher {
    context: Arc<Context>,
    /// The last id sent out in each room, by store key.
    published: HashMap<String, u64>,
    /// Acks to send once their message is sent out, by room and id.
    waiting: HashMap<String, BTreeMap<u64, Vec<AckSender>>>,
    /// Where private lines said on this node were said, until sent out.
    origins: HashMap<(String, u64), Origin>,
    /// The page of history a socket was sent last, for the next one
    /// entering with the same page.
    last_page: Option<EncodedPage>,
    /// Messages sent out since the stage last yielded, in any room and
    /// step: see [`SENT_BETWEEN_YIELDS`].
    sent_unpaused: usize,
}

impl Publisher {
    async fn step(&mut self, step: Step) {
        match step {
            Step::Stored { acks, new } => self.stored(acks, new).await,
            Step::Failed { senders, error } => {
                tracing::error!(%error, "cannot store messages; senders are told");
                for Sender { socket, ack } in senders {
                    refusal::refuse(&socket, &Refusal::Unavailable, ack, &self.context.metrics);
                }
            }
            Step::Held { senders } => {
                for Sender { socket, ack } in senders {
                    refusal::refuse(&socket, &Refusal::AfterUnsaved, ack, &self.context.metrics);
                }
            }
            Step::Join {
                socket,
                room,
                last_id,
            } => {
                let published = self.published.get(&room_key(&room)).copied().unwrap_or(0);
                let key = PageKey::new(&room, last_id, published);
                let page = self.context.history.page(key, &mut self.last_page).await;
                join(&self.context, &socket, &room, page);
            }
            Step::Flush(done) | Step::Stop(done) => {
                let _ = done.send(());
            }
        }
    }

    async fn stored(&mut self, acks: Vec<(Sender, String, u64)>, new: Vec<Stored>) {
        for (Sender { ack, .. }, room, id) in acks {
            self.waiting
                .entry(room)
                .or_default()
                .entry(id)
                .or_default()
                .push(ack);
        }
        let messages: Vec<ChatMessage> = new.iter().map(chat_message).collect();
        // Messages whose answer was stored with them (an engine that answers
        // at once) are not asked again.
        let (replies, said): (Vec<_>, Vec<_>) =
            messages.into_iter().partition(ChatMessage::from_bot);
        let answered: HashSet<(&RoomName, MessageId)> = replies
            .iter()
            .filter_map(|reply| Some((&reply.room, reply.answers?)))
            .collect();
        for message in said {
            self.context.metrics.accepted();
            if !answered.contains(&(&message.room, message.id)) {
                self.context.published.ask(message);
            }
        }
        let mut by_room: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
        for stored in new {
            by_room
                .entry(stored.draft.room.clone())
                .or_default()
                .push(stored);
        }
        for (room, rows) in by_room {
            let upto = rows.last().map_or(0, |row| row.id);
            self.publish(&room, rows, upto).await;
        }
        // Resends of messages sent out already are acknowledged at once.
        let rooms: Vec<String> = self.waiting.keys().cloned().collect();
        for room in rooms {
            self.release_acks(&room);
        }
    }

    async fn handoff(&mut self, handoff: Handoff) {
        let rows = match handoff {
            Handoff::Said { stored, origin } => {
                if let Some(origin) = origin {
                    self.origins
                        .insert((stored.draft.room.clone(), stored.id), origin);
                }
                vec![stored]
            }
            Handoff::Answered(rows) => rows,
        };
        let Some(last) = rows.last() else {
            return;
        };
        let (room, upto) = (last.draft.room.clone(), last.id);
        let said: Vec<(u64, Option<String>)> = rows
            .iter()
            .map(|row| (row.id, row.draft.client_id.clone()))
            .collect();
        self.publish(&room, rows, upto).await;
        // Sent out now, or skipped (nobody here): where they were said is
        // needed no more.
        for (id, client_id) in said {
            self.origins.remove(&(room.clone(), id));
            if let Some(client_id) = client_id {
                self.context.saying.take(&room, &client_id);
            }
        }
    }

    async fn notice(&mut self, notice: Notice) {
        match notice {
            Notice::Relayed(message) => {
                relay::deliver(&self.context.io, &self.context.node, &message).await;
            }
            Notice::Stored { node, .. } if node == self.context.node => {}
            Notice::Stored { room, id, .. } => self.publish(&room, Vec::new(), id).await,
            Notice::Resync => {
                for prefix in [GROUP, PRIVATE] {
                    match self.context.store.latest_ids(prefix).await {
                        Ok(latest) => {
                            for (room, id) in latest {
                                self.publish(&room, Vec::new(), id).await;
                            }
                        }
                        Err(error) => tracing::warn!(%error, "cannot read the rooms' latest ids"),
                    }
                }
            }
        }
    }

    /// Sends out `room`'s messages up to id `upto`, from `known` rows where
    /// they follow the mark, else read from the store; then the acks.
    async fn publish(&mut self, room: &str, mut known: Vec<Stored>, upto: u64) {
        let mut mark = self.published.get(room).copied().unwrap_or(0);
        known.retain(|row| row.id > mark);
        if known.is_empty() && mark < upto && self.nobody_in(room) {
            // Nobody here to tell; whoever comes reads the history.
            mark = upto;
        }
        while mark < upto {
            let follows = known
                .iter()
                .enumerate()
                .all(|(i, row)| row.id == mark + 1 + i as u64);
            let rows = if follows && !known.is_empty() {
                std::mem::take(&mut known)
            } else {
                let limit = usize::try_from(upto - mark).map_or(READ_PAGE, |n| n.min(READ_PAGE));
                match self.context.store.after(room, mark, limit).await {
                    Ok(rows) => rows,
                    Err(error) => {
                        // Read again at the next notice or resync.
                        tracing::warn!(%error, room, "cannot read messages to send out");
                        break;
                    }
                }
            };
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                self.send_out(room, row).await;
                mark = row.id;
            }
            known.retain(|row| row.id > mark);
        }
        self.published.insert(room.to_owned(), mark);
        self.release_acks(room);
    }

    /// Sends `row` of `room` to this node's sockets in the room.
    async fn send_out(&mut self, room: &str, row: &Stored) {
        let io = &self.context.io;
        if is_group(room) {
            let message = chat_message(row);
            let event = if message.from_bot() {
                BOT_MESSAGE
            } else {
                NEW_MESSAGE
            };
            broadcast(io, room, event, &message).await;
        } else if room.starts_with(PRIVATE) {
            let origin = self.origins.remove(&(room.to_owned(), row.id)).or_else(|| {
                let client_id = row.draft.client_id.as_deref()?;
                self.context.saying.take(room, client_id)
            });
            private_feed::send_out(io, &self.context.dialects, row, origin).await;
        }
        self.sent_unpaused += 1;
        if self.sent_unpaused == SENT_BETWEEN_YIELDS {
            self.sent_unpaused = 0;
            tokio::task::yield_now().await;
        }
    }

    /// Whether no socket of this node is in `room` (a store key, which is
    /// also the socket room's name).
    fn nobody_in(&self, room: &str) -> bool {
        self.context.io.to(room.to_owned()).sockets().is_empty()
    }

    /// Acks every sender in `room` whose message is sent out.
    fn release_acks(&mut self, room: &str) {
        let mark = self.published.get(room).copied().unwrap_or(0);
        let Some(waiting) = self.waiting.get_mut(room) else {
            return;
        };
        let later = waiting.split_off(&(mark + 1));
        for (id, acks) in std::mem::replace(waiting, later) {
            for ack in acks {
                let outcome = SendOutcome::Accepted {
                    id: shared::MessageId(id),
                };
                if let Err(error) = ack.send(&outcome) {
                    tracing::debug!(%error, "cannot send ack");
                }
            }
        }
        if waiting.is_empty() {
            self.waiting.remove(room);
        }
    }
}

/// Whether a store key is a group room's.
fn is_group(key: &str) -> bool {
    key == GROUP
        || key
            .strip_prefix(GROUP)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// Sends `socket` its `page` of `room`'s history, then adds it to the room.
fn join(
    context: &Context,
    socket: &SocketRef,
    room: &RoomName,
    page: Result<EncodedPage, PageError>,
) {
    let sent = match page {
        Ok(page) => {
            context.metrics.caught_up(page.messages);
            socket.emit(HISTORY, &*page.json).map_err(|e| e.to_string())
        }
        Err(error) => Err(error.to_string()),
    };
    match sent {
        Ok(()) => socket.join(room_key(room)),
        Err(error) => {
            // Joining without its history would leave a hole; the client
            // reconnects and asks again.
            tracing::warn!(sid = %socket.id, %error, "cannot send history; disconnecting");
            let _ = socket.clone().disconnect();
        }
    }
}

async fn broadcast(io: &SocketIo, key: &str, event: &'static str, message: &ChatMessage) {
    if let Err(error) = io.to(key.to_owned()).emit(event, message).await {
        // Some sockets could not take it (closed, or too far behind); the rest did.
        tracing::warn!(%error, event, id = message.id.0, "broadcast incomplete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_group_rooms_from_the_rest() {
        assert!(is_group("group"));
        assert!(is_group("group:dev"));
        assert!(!is_group("groupie"));
        assert!(!is_group("user:ann"));
    }

    #[test]
    fn notices_that_piled_up_become_one_per_room_and_own_ones_go() {
        let stored = |room: &str, id, node: &str| Notice::Stored {
            room: room.to_owned(),
            id,
            node: node.to_owned(),
        };
        let notices = vec![
            stored("group", 3, "b"),
            Notice::Relayed("typing".to_owned()),
            stored("group:dev", 7, "b"),
            stored("group", 5, "a"),
            stored("group", 4, "c"),
            Notice::Resync,
        ];
        assert_eq!(
            coalesce(notices, "a"),
            [
                stored("group", 4, "b"),
                Notice::Relayed("typing".to_owned()),
                stored("group:dev", 7, "b"),
                Notice::Resync,
            ]
        );
    }
}
