//! Events that are never stored (typing, streamed answers, read marks, a
//! user's room list) reach the sockets of the other nodes too, when nodes
//! share a store: best-effort, through the store's own notifications, in
//! the order this node sends them. With a store of its own, a node has no
//! one to tell.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::SocketIo;
use tokio::sync::mpsc;

use crate::store::Store;

/// The largest relayed event, in bytes of JSON; PostgreSQL's notifications
/// carry under 8,000. Larger ones stay on this node.
const MAX_RELAYED_BYTES: usize = 7_800;

/// Passes events to the other nodes. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub(crate) struct Relay {
    node: String,
    /// Relayed events in order, for the task that hands them to the store;
    /// `None` with a store of the node's own.
    queue: Option<mpsc::UnboundedSender<String>>,
}

/// An event on its way to the other nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Relayed {
    /// The node that sent it, which skips it when it comes back.
    node: String,
    /// The socket room it goes to.
    room: String,
    event: String,
    data: Value,
}

impl Relay {
    /// A relay through `store`, for node `node`.
    pub(crate) fn new(store: Arc<dyn Store>, node: String) -> Self {
        if !store.is_shared() {
            return Self { node, queue: None };
        }
        let (queue, mut relayed) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(message) = relayed.recv().await {
                if let Err(error) = store.relay(&message).await {
                    tracing::debug!(%error, "cannot relay an event to the other nodes");
                }
            }
        });
        Self {
            node,
            queue: Some(queue),
        }
    }

    /// Passes `event` with `data` to the sockets in `room` on the other nodes.
    pub(crate) fn to_others<T: Serialize + ?Sized>(&self, room: &str, event: &str, data: &T) {
        let Some(queue) = &self.queue else {
            return;
        };
        let Ok(data) = serde_json::to_value(data) else {
            return;
        };
        let relayed = Relayed {
            node: self.node.clone(),
            room: room.to_owned(),
            event: event.to_owned(),
            data,
        };
        let Ok(message) = serde_json::to_string(&relayed) else {
            return;
        };
        if message.len() > MAX_RELAYED_BYTES {
            tracing::debug!(
                event,
                bytes = message.len(),
                "too big to relay; this node's sockets only"
            );
            return;
        }
        let _ = queue.send(message);
    }
}

/// Emits a relayed event (`message`) to this node's sockets, unless this
/// node (`node`) sent it.
pub(crate) async fn deliver(io: &SocketIo, node: &str, message: &str) {
    let relayed: Relayed = match serde_json::from_str(message) {
        Ok(relayed) => relayed,
        Err(error) => {
            tracing::warn!(%error, "an unreadable relayed event");
            return;
        }
    };
    if relayed.node == node {
        return;
    }
    if let Err(error) = io.to(relayed.room).emit(relayed.event, &relayed.data).await {
        tracing::debug!(%error, "relayed event incomplete");
    }
}
