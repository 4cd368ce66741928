//! The chat hub of the tutorial: every accepted message goes to everyone,
//! followed by the bot's replies.

mod botmaster;
mod handlers;
mod identify;
mod rate_limit;
mod refusal;
mod sequencer;

use std::sync::Arc;

use socketioxide::layer::SocketIoLayer;
use std::time::Duration;

use socketioxide::handler::ConnectHandler as _;
use socketioxide::{SocketIo, TransportType};

use crate::Settings;
use crate::bot::ChatBot;
use crate::identity::Signer;
use crate::store::Store;

pub use rate_limit::RateLimit;
use sequencer::Sequencer;

/// The largest Engine.IO payload (one WebSocket message, or one polling
/// request body) the server reads: room for several maximum-size messages.
/// Anything bigger is an attack or a bug, and the connection is closed.
const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Initial read buffer of each WebSocket. Chat frames are small and the
/// buffer grows when one is not; 1 KiB instead of socketioxide's 4 KiB took
/// idle memory from 29.3 to 26.3 KiB per connection (chat-bench, 1,000 idle).
const WS_READ_BUFFER_BYTES: usize = 1024;

/// Packets the server may queue for one slow client before emits to it fail.
const MAX_QUEUED_PACKETS: usize = 1024;

/// What every handler shares. A cheap `Clone` handle with no lock inside.
#[derive(Clone)]
struct Hub {
    /// How fast each client may send.
    rate_limit: RateLimit,
    /// Where accepted messages go to be numbered and broadcast.
    sequencer: Sequencer,
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
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("rate_limit", &self.rate_limit)
            .field("trust_client_ids", &self.trust_client_ids)
            .finish_non_exhaustive()
    }
}

/// The Socket.IO layer with the hub's handlers on the main namespace.
pub(crate) fn layer(settings: &Settings, bot: Arc<dyn ChatBot>) -> (SocketIoLayer, SocketIo) {
    let (sequencer, queue) = Sequencer::new();
    let hub = Hub {
        rate_limit: settings.rate_limit,
        sequencer,
        signer: settings.signer.clone(),
        trust_client_ids: settings.trust_client_ids,
        bot: bot.clone(),
        bot_timeout: settings.bot_timeout,
        store: settings.store.clone(),
    };
    let builder = SocketIo::builder()
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
    let context = sequencer::Context {
        io: io.clone(),
        store: settings.store.clone(),
        bot,
        bot_timeout: settings.bot_timeout,
    };
    sequencer::start(queue, context);
    // Read now, before any socket can connect and ask something new.
    let left_over = botmaster::left_unanswered(settings.store.as_ref());
    io.ns("/", handlers::on_connect.with(identify::identify));
    tokio::spawn(botmaster::answer_left_over(io.clone(), hub, left_over));
    (layer, io)
}
