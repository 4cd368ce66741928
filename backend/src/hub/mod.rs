//! The chat hub of the tutorial: every accepted message goes to everyone,
//! followed by the bot's replies.

mod answers;
mod conversation;
mod dialect;
mod handlers;
mod history;
mod identify;
mod people;
mod private;
mod private_feed;
mod profile;
mod publisher;
mod refusal;
mod relay;
mod rooms;
mod sequencer;
mod takeover;
mod typing;
mod unanswered;
mod unsaved;

use std::sync::{Arc, OnceLock};

use socketioxide::layer::SocketIoLayer;
use std::time::Duration;

use socketioxide::handler::ConnectHandler as _;
use socketioxide::{ParserConfig, SocketIo, TransportType};

use crate::Settings;
use crate::bot::ChatBot;
use crate::drain::Drain;
use crate::identity::Signer;
use crate::limits::{Counter, RateLimits};
use crate::metrics::Metrics;
use crate::store::Store;

use dialect::Dialects;
pub use dialect::ReplyShape;
use history::History;
use people::People;
use sequencer::Sequencer;

/// The largest Engine.IO payload (one WebSocket message, or one polling
/// request body) the server reads: room for several maximum-size messages.
/// Anything bigger is an attack or a bug, and the connection is closed.
const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Read buffer of each WebSocket. Chat frames are small and a bigger one
/// takes several reads; 1 KiB instead of socketioxide's 4 KiB took idle
/// memory from 29.3 to 26.3 KiB per connection, 256 B from 21.2–21.4 to
/// 20.6–20.7 KiB (chat-bench, 1,000 idle), with no change in CPU at
/// 50 clients × 20 messages at 10/s.
const WS_READ_BUFFER_BYTES: usize = 256;

/// Packets the server may queue for one slow client. Once they are queued,
/// emits to it fail (it misses them) and at its next heartbeat (every 25 s)
/// it is disconnected; it comes back and asks for what it missed. Each
/// packet is bounded too (a message, or a page of history), so what one
/// client that stops reading can hold is bounded in bytes.
const MAX_QUEUED_PACKETS: usize = 256;

/// Binary attachments a packet may announce. The chat has none; Socket.IO
/// would otherwise buffer up to 10,000 of them (10 MB) per packet while
/// waiting for the rest.
const MAX_ATTACHMENTS: usize = 0;

/// How long a new Engine.IO session may take to join the chat's namespace
/// before it is closed (socketioxide's default is 45 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler shares. A cheap `Clone` handle with no lock inside.
#[derive(Clone)]
struct Hub {
    /// How fast each client may send, read and store.
    limits: Arc<RateLimits>,
    /// Socket.IO sessions open per client address.
    sessions: Counter,
    /// Reads of the group rooms' history.
    history: History,
    /// The shape (strings or objects) each Botmaster user speaks.
    dialects: Dialects,
    /// Where accepted messages go to be numbered and broadcast.
    sequencer: Sequencer,
    /// Passes events that are not stored to the other nodes.
    relay: relay::Relay,
    /// Where stored lines of private conversations go to be sent out.
    handoffs: tokio::sync::mpsc::UnboundedSender<publisher::Handoff>,
    /// Where the private lines being said on this node were said.
    saying: private_feed::Saying,
    /// Checks the session tokens that prove user ids.
    signer: Signer,
    /// Believe `botmasterUserId` without a token (Botmaster's original clients).
    trust_client_ids: bool,
    /// Answers Botmaster conversations.
    bot: Arc<dyn ChatBot>,
    /// How long the bot may take.
    bot_timeout: Duration,
    /// Where messages are kept.
    store: Arc<dyn Store>,
    /// Who is connected and in which rooms.
    people: People,
    /// The server, once built (the hub is made before it).
    io: Arc<OnceLock<SocketIo>>,
    /// What this node has done, for `/metrics`.
    metrics: Arc<Metrics>,
    /// Whether the node is stopping, and what it must finish first.
    drain: Drain,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("limits", &self.limits)
            .field("trust_client_ids", &self.trust_client_ids)
            .finish_non_exhaustive()
    }
}

/// Finishes what the hub has accepted, for a node that is draining.
#[derive(Debug, Clone)]
pub(crate) struct Finisher {
    sequencer: Sequencer,
    drain: Drain,
}

impl Finisher {
    /// Resolves once every message accepted before the drain began is
    /// stored, sent out and acknowledged, and every question it put to the
    /// bot is answered, with the answer stored and sent out too.
    pub(crate) async fn finish(&self) {
        // The group rooms' messages stored; their questions are with the bot.
        self.sequencer.flush().await;
        // Every answer queued, every private line answered.
        self.drain.finished().await;
        // The answers stored and sent out.
        self.sequencer.flush().await;
    }

    /// Ends the hub's sending out, before the namespace closes: whatever
    /// is queued is stored and sent out first.
    pub(crate) async fn stop(&self) {
        self.sequencer.stop().await;
    }
}

/// The Socket.IO layer with the hub's handlers on the main namespace, and
/// what finishes the hub's work when `drain` begins.
pub(crate) async fn layer(
    settings: &Settings,
    bot: Arc<dyn ChatBot>,
    limits: Arc<RateLimits>,
    metrics: Arc<Metrics>,
    drain: Drain,
) -> (SocketIoLayer, SocketIo, Finisher) {
    let (sequencer, queue) = Sequencer::new();
    let (handoffs, handed_off) = tokio::sync::mpsc::unbounded_channel();
    let questions = answers::start(
        &sequencer,
        bot.clone(),
        settings.bot_timeout,
        settings.store.clone(),
        metrics.clone(),
        drain.clone(),
    );
    let finisher = Finisher {
        sequencer: sequencer.clone(),
        drain: drain.clone(),
    };
    let hub = Hub {
        limits,
        sessions: Counter::new(usize::MAX, settings.connections.max_per_address),
        history: History::new(settings.store.clone()),
        dialects: Dialects::new(settings.botmaster_replies),
        sequencer,
        relay: relay::Relay::new(settings.store.clone(), settings.node_id.clone()),
        handoffs,
        saying: private_feed::Saying::default(),
        signer: settings.signer.clone(),
        trust_client_ids: settings.trust_client_ids,
        bot: bot.clone(),
        bot_timeout: settings.bot_timeout,
        store: settings.store.clone(),
        people: People::default(),
        io: Arc::new(OnceLock::new()),
        metrics: metrics.clone(),
        drain,
    };
    let parser = ParserConfig::common()
        .max_incoming_binaries(MAX_ATTACHMENTS)
        .max_incoming_binary_buf_size(MAX_PAYLOAD_BYTES);
    let builder = SocketIo::builder()
        .with_parser(parser)
        .connect_timeout(CONNECT_TIMEOUT)
        .with_state(hub.clone())
        .max_payload(MAX_PAYLOAD_BYTES as u64)
        .ws_max_message_size(MAX_PAYLOAD_BYTES)
        .ws_max_frame_size(MAX_PAYLOAD_BYTES)
        .max_buffer_size(MAX_QUEUED_PACKETS)
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES);
    let builder = match (settings.polling, settings.websocket) {
        (true, false) => builder.transports([TransportType::Polling]),
        (false, true) => builder.transports([TransportType::Websocket]),
        _ => builder,
    };
    let (layer, io) = builder.build_layer();
    let _ = hub.io.set(io.clone());
    let context = publisher::Context {
        io: io.clone(),
        history: hub.history.clone(),
        store: settings.store.clone(),
        published: questions.clone(),
        metrics,
        dialects: hub.dialects.clone(),
        node: settings.node_id.clone(),
        saying: hub.saying.clone(),
    };
    // The namespace first: the publisher and the takeover emit to it (and
    // socketioxide panics on a namespace it does not have), and a node
    // that starts beside busy nodes hears their messages at once. No
    // socket can connect before the server listens, after this returns.
    io.ns("/", handlers::on_connect.with(handlers::connecting));
    sequencer::start(queue, context, handed_off, settings.group_commit);
    // Before any socket can connect and ask something new.
    takeover::start(io.clone(), hub.clone(), questions).await;
    tokio::spawn(forget_idle_clients(hub.limits.clone()));
    (layer, io, finisher)
}

/// How often clients whose buckets have refilled are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Keeps the rate limits' memory to the clients active lately. Ends with
/// the server (when the limits have no other owner).
async fn forget_idle_clients(limits: Arc<RateLimits>) {
    let limits = Arc::downgrade(&limits);
    loop {
        tokio::time::sleep(FORGET_EVERY).await;
        match limits.upgrade() {
            Some(limits) => limits.forget_idle(),
            None => return,
        }
    }
}
