//! The chat as the page sees it: the messages so far, the connection state,
//! and the one error to show. The socket driver writes these signals; the
//! components only read them and call [`Chat::send`].

use leptos::prelude::*;
use protocol::{ClientEvent, ConnectionState, TransportKind};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::json;
use shared::events::{BOT_MESSAGE, BOTMASTER_ECHO, BOTMASTER_MESSAGE, CHAT_ERROR, NEW_MESSAGE};
use shared::{ChatError, ChatMessage, MessageBody, NewMessage, ValidationError};

use crate::session;
use crate::socket::{self, SocketHandle};

/// One line of the private conversation with the bot (Botmaster mode).
#[derive(Debug, Clone, PartialEq)]
pub struct BotLine {
    /// Position in this page's list.
    pub key: usize,
    /// Whether the bot said it (otherwise the user did, in some tab).
    pub from_bot: bool,
    /// What was said. Plain text.
    pub text: String,
}

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
    /// The private conversation with the bot, as this tab has seen it.
    pub bot_lines: RwSignal<Vec<BotLine>>,
    /// This browser's user id, once the server has given one; the private
    /// conversation needs it.
    pub user_id: RwSignal<Option<String>>,
    socket: SocketHandle,
}

impl Chat {
    /// Connects to the server that served the page.
    pub fn connect() -> Self {
        let entries = RwSignal::new(Vec::new());
        let status = RwSignal::new(ConnectionState::Connecting);
        let transport = RwSignal::new(None);
        let bot_lines = RwSignal::new(Vec::new());
        let user_id = RwSignal::new(None);
        let auth = async move {
            let session = session::load_or_create().await;
            user_id.set(session.as_ref().map(|s| s.user_id.clone()));
            session.map(|s| json!({"token": s.token}))
        };
        let error = RwSignal::new(None);
        let socket = socket::connect(auth, move |event| match event {
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
                BOTMASTER_MESSAGE | BOTMASTER_ECHO => {
                    if let Some(text) = args.first().and_then(botmaster_text) {
                        push_bot_line(bot_lines, name == BOTMASTER_MESSAGE, text);
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
            ClientEvent::ConnectError { message } => {
                session::forget();
                error.set(Some(format!(
                    "{message}; reload the page to start a new session"
                )));
            }
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
            bot_lines,
            user_id,
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

impl Chat {
    /// Tells the bot `text`, privately. Shown at once in this tab; the
    /// user's other tabs get it from the server.
    pub fn send_to_bot(&self, text: &str) -> Result<(), ValidationError> {
        let text = MessageBody::parse(text)?;
        push_bot_line(self.bot_lines, false, text.as_str().to_owned());
        let payload = json!({"text": text.as_str()}).to_string();
        self.socket.emit(BOTMASTER_MESSAGE, Value::String(payload));
        Ok(())
    }
}

fn push_bot_line(lines: RwSignal<Vec<BotLine>>, from_bot: bool, text: String) {
    lines.update(|lines| {
        let key = lines.len();
        lines.push(BotLine {
            key,
            from_bot,
            text,
        });
    });
}

/// The text of a Botmaster event: a JSON string whose `message.text` is it.
fn botmaster_text(arg: &Value) -> Option<String> {
    let parsed: Value = serde_json::from_str(arg.as_str()?).ok()?;
    parsed
        .get("message")?
        .get("text")?
        .as_str()
        .map(str::to_owned)
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
