//! The chat as the page sees it: the messages so far, the connection state,
//! and the one error to show. The socket driver writes these signals; the
//! components only read them and call [`Chat::send`].

use leptos::prelude::*;
use protocol::{ClientEvent, ConnectionState, TransportKind};
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::events::{BOT_MESSAGE, CHAT_ERROR, NEW_MESSAGE};
use shared::{ChatError, ChatMessage, NewMessage, ValidationError};

use crate::socket::{self, SocketHandle};

/// One line of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in this page's list; stable, so the list never re-renders old lines.
    pub key: usize,
    /// The message as the server published it.
    pub message: ChatMessage,
    /// Whether the bot wrote it; shown differently.
    pub from_bot: bool,
}

/// The chat's state, provided to every component as context.
#[derive(Debug, Clone)]
pub struct Chat {
    /// Every message received since the page opened, in server order.
    pub entries: RwSignal<Vec<Entry>>,
    /// Where the connection stands.
    pub status: RwSignal<ConnectionState>,
    /// What carries the connection once it is up: WebSocket, or long-polling
    /// where WebSocket is blocked.
    pub transport: RwSignal<Option<TransportKind>>,
    /// The error to show under the form: the form's own check or the server's refusal.
    pub error: RwSignal<Option<String>>,
    socket: SocketHandle,
}

impl Chat {
    /// Connects to the server that served the page.
    pub fn connect() -> Self {
        let entries = RwSignal::new(Vec::new());
        let status = RwSignal::new(ConnectionState::Connecting);
        let transport = RwSignal::new(None);
        let error = RwSignal::new(None);
        let socket = socket::connect(move |event| match event {
            ClientEvent::StateChanged(state) => status.set(state),
            ClientEvent::Event { name, args, .. } => match name.as_str() {
                NEW_MESSAGE | BOT_MESSAGE => {
                    if let Some(message) = first_arg::<ChatMessage>(&args) {
                        entries.update(|list: &mut Vec<Entry>| {
                            let key = list.len();
                            let from_bot = name == BOT_MESSAGE;
                            list.push(Entry {
                                key,
                                message,
                                from_bot,
                            });
                        });
                    }
                }
                CHAT_ERROR => {
                    if let Some(refusal) = first_arg::<ChatError>(&args) {
                        error.set(Some(refusal.message));
                    }
                }
                _ => {}
            },
            ClientEvent::Connected {
                transport: carrier, ..
            }
            | ClientEvent::Upgraded { transport: carrier } => transport.set(Some(carrier)),
            ClientEvent::ConnectError { message } => error.set(Some(message)),
            ClientEvent::ProtocolError(problem) => {
                leptos::logging::warn!("protocol error from the server: {problem}");
            }
            ClientEvent::Disconnected { .. }
            | ClientEvent::Ack { .. }
            | ClientEvent::AckTimedOut { .. } => {}
        });
        Self {
            entries,
            status,
            transport,
            error,
            socket,
        }
    }

    /// Checks `message` with the shared rules and sends it. While offline
    /// it is sent as soon as the connection is back.
    pub fn send(&self, message: &NewMessage) -> Result<(), ValidationError> {
        message.validate()?;
        let payload = serde_json::to_value(message).expect("two strings always serialise");
        self.socket.emit(NEW_MESSAGE, payload);
        self.error.set(None);
        Ok(())
    }
}

fn first_arg<T: DeserializeOwned>(args: &[Value]) -> Option<T> {
    let value = args.first()?;
    match serde_json::from_value(value.clone()) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            leptos::logging::warn!("ignoring an event the page cannot read: {error}");
            None
        }
    }
}
