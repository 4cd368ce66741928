//! A Socket.IO client with no I/O of its own.
//!
//! The codec ([`engineio`], [`socketio`]) turns text frames into packets and
//! back; the [`Client`] state machine is fed transport events and the current
//! time, and answers with [`Output`]s: frames to send, transports to open or
//! close, and events for the application. A browser driver (the frontend) and
//! a native driver both run the same core, so everything protocol-related is
//! unit-tested here without a network.
//!
//! Transports: WebSocket and HTTP long-polling, WebSocket first with a
//! fallback to polling by default, or polling first with an upgrade to
//! WebSocket like the JavaScript client. Events and acks may carry binary
//! attachments in both directions.
#![warn(missing_docs)]

mod backoff;
mod client;
mod endpoint;
pub mod engineio;
mod error;
#[cfg(feature = "native")]
pub mod native;
pub mod socketio;
mod transport;

pub use backoff::{Backoff, ReconnectConfig};
pub use client::{AckId, Client, ClientConfig, ClientEvent, ConnectionState, Output, placeholder};
pub use endpoint::{Endpoints, websocket_url};
pub use error::DecodeError;
pub use transport::{PollRequest, RECORD_SEPARATOR, TransportKind, Transports};

/// The path the Engine.IO server listens on, as both official implementations default to.
pub const DEFAULT_PATH: &str = "/socket.io/";

/// The query string that opens an Engine.IO v4 WebSocket transport at [`DEFAULT_PATH`].
pub const WEBSOCKET_QUERY: &str = "EIO=4&transport=websocket";
