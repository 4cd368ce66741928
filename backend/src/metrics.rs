//! What a node has done, for Prometheus: `GET /metrics` in the text format
//! (`prometheus-client`). Connections by transport, messages accepted and
//! refused by reason, the store's append latency and batch sizes, catch-up
//! sizes, the bot's latency and failures, and which node this is.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use socketioxide::{SocketIo, TransportType};

/// A message's fate: `accepted`, or the reason it was refused.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Transport {
    transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Node {
    node: String,
}

/// Every measurement of this node. Shared as an `Arc`; updating is lock-free.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    messages: Family<Outcome, Counter>,
    connections: Family<Transport, Gauge>,
    append_seconds: Histogram,
    batch_messages: Histogram,
    catch_up_messages: Histogram,
    bot_seconds: Histogram,
    bot_failures: Counter,
}

impl Metrics {
    /// Empty measurements of the node called `node`.
    pub fn new(node: &str) -> Self {
        let mut registry = Registry::with_prefix("chat");
        let info = Family::<Node, Gauge>::default();
        info.get_or_create(&Node {
            node: node.to_owned(),
        })
        .set(1);
        registry.register("node_info", "This node's id (--node-id), always 1", info);
        let messages = Family::<Outcome, Counter>::default();
        registry.register(
            "messages",
            "Chat messages (group and private) by outcome: accepted, or why they were refused",
            messages.clone(),
        );
        let connections = Family::<Transport, Gauge>::default();
        registry.register(
            "connections",
            "Socket.IO connections open now, by transport",
            connections.clone(),
        );
        // 0.1 ms to ~3 s.
        let append_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "append_seconds",
            "Time to store one batch of messages durably",
            append_seconds.clone(),
        );
        let batch_messages = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "batch_messages",
            "Messages stored per batch (one transaction, one sync)",
            batch_messages.clone(),
        );
        let catch_up_messages = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "catch_up_messages",
            "Messages sent to a socket entering a room (what it missed, or the latest page)",
            catch_up_messages.clone(),
        );
        // 1 ms to ~30 s.
        let bot_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "bot_seconds",
            "Time the bot engine took to answer",
            bot_seconds.clone(),
        );
        let bot_failures = Counter::default();
        registry.register(
            "bot_failures",
            "Answers the bot engine failed or took too long to give",
            bot_failures.clone(),
        );
        Self {
            registry,
            messages,
            connections,
            append_seconds,
            batch_messages,
            catch_up_messages,
            bot_seconds,
            bot_failures,
        }
    }

    /// A message was stored and published.
    pub fn accepted(&self) {
        self.refused("accepted");
    }

    /// A message was refused, for `reason`.
    pub fn refused(&self, reason: &'static str) {
        self.messages
            .get_or_create(&Outcome { outcome: reason })
            .inc();
    }

    /// A batch of `messages` took `took` to store.
    pub fn appended(&self, messages: usize, took: Duration) {
        self.append_seconds.observe(took.as_secs_f64());
        self.batch_messages.observe(messages as f64);
    }

    /// A socket entering a room was sent `messages`.
    pub fn caught_up(&self, messages: usize) {
        self.catch_up_messages.observe(messages as f64);
    }

    /// The bot answered (or `failed` to) in `took`.
    pub fn bot_answered(&self, took: Duration, failed: bool) {
        self.bot_seconds.observe(took.as_secs_f64());
        if failed {
            self.bot_failures.inc();
        }
    }

    /// The text format, with the connections counted now.
    fn encode(&self, io: &SocketIo) -> String {
        let (mut websocket, mut polling) = (0, 0);
        for socket in io.sockets() {
            match socket.transport_type() {
                TransportType::Websocket => websocket += 1,
                TransportType::Polling => polling += 1,
            }
        }
        for (transport, count) in [("websocket", websocket), ("polling", polling)] {
            self.connections
                .get_or_create(&Transport { transport })
                .set(count);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// `GET /metrics`.
pub(crate) async fn serve(
    State((metrics, io)): State<(Arc<Metrics>, SocketIo)>,
) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(&io),
    )
}
