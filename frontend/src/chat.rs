//! The chat as the page sees it: the messages so far, the connection state,
//! and the one error to show. The socket driver writes these signals; the
//! components only read them and call [`Chat::send`].

use leptos::prelude::*;
use protocol::{ClientEvent, ConnectionState, TransportKind};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::json;
use shared::events::{
    BOT_MESSAGE, BOT_STREAM, BOTMASTER_ECHO, BOTMASTER_MESSAGE, CHAT_ERROR, NEW_MESSAGE,
};
use shared::{
    BotStreamDelta, BotmasterInput, BotmasterUpdate, ChatError, ChatMessage, MessageBody,
    NewMessage, QuickReply, QuickReplyChoice, ValidationError,
};

use crate::session;
use crate::socket::{self, SocketHandle};

/// One line of the private conversation with the bot (Botmaster mode).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotLine {
    /// Position in this page's list.
    pub key: usize,
    /// Bumped whenever the line changes (a streamed answer grows), so the
    /// list redraws this line and no other.
    pub revision: usize,
    /// Whether the bot said it (otherwise the user did, in some tab).
    pub from_bot: bool,
    /// What was said. Plain text.
    pub text: String,
    /// An image the bot sent, by web address.
    pub image: Option<String>,
    /// Answers to pick instead of typing.
    pub quick_replies: Vec<QuickReply>,
    /// The stream this line shows, while the bot is still writing it.
    pub streaming: Option<u64>,
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
                BOTMASTER_MESSAGE => {
                    if let Some(update) = args.first().and_then(botmaster_update) {
                        bot_lines.update(|lines| complete_bot_line(lines, update));
                    }
                }
                BOTMASTER_ECHO => {
                    if let Some(update) = args.first().and_then(botmaster_update) {
                        bot_lines.update(|lines| push_user_line(lines, update.message.text));
                    }
                }
                BOT_STREAM => {
                    if let Some(piece) = first_arg::<BotStreamDelta>(&args) {
                        bot_lines.update(|lines| grow_bot_line(lines, piece));
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
        self.tell_bot(BotmasterInput {
            text: text.as_str().to_owned(),
            quick_reply: None,
        });
        Ok(())
    }

    /// Picks a quick reply: shown as its title, sent to the bot as its payload.
    pub fn pick_quick_reply(&self, choice: &QuickReply) {
        self.tell_bot(BotmasterInput {
            text: choice.title.clone(),
            quick_reply: Some(QuickReplyChoice {
                payload: choice.payload.clone(),
            }),
        });
    }

    fn tell_bot(&self, input: BotmasterInput) {
        let payload = serde_json::to_string(&input).expect("plain data always serialises");
        self.bot_lines
            .update(|lines| push_user_line(lines, input.text));
        // Botmaster's wire format: the JSON as a string.
        self.socket.emit(BOTMASTER_MESSAGE, Value::String(payload));
    }
}

fn push_user_line(lines: &mut Vec<BotLine>, text: String) {
    let key = lines.len();
    lines.push(BotLine {
        key,
        text,
        ..BotLine::default()
    });
}

/// Appends a streamed piece to its line, starting the line with the first piece.
fn grow_bot_line(lines: &mut Vec<BotLine>, piece: BotStreamDelta) {
    if let Some(line) = lines.iter_mut().find(|l| l.streaming == Some(piece.id)) {
        line.text.push_str(&piece.delta);
        line.revision += 1;
    } else {
        let key = lines.len();
        lines.push(BotLine {
            key,
            from_bot: true,
            text: piece.delta,
            streaming: Some(piece.id),
            ..BotLine::default()
        });
    }
}

/// Adds a finished bot message; one that completes a stream replaces the
/// streamed text in place, so the answer stays one message.
fn complete_bot_line(lines: &mut Vec<BotLine>, update: BotmasterUpdate) {
    let BotmasterUpdate {
        message, stream_id, ..
    } = update;
    let image = message
        .attachment
        .as_ref()
        .and_then(|a| a.image_url())
        .map(str::to_owned);
    // An image's address is sent as text only for clients that cannot show it.
    let text = match &image {
        Some(url) if *url == message.text => String::new(),
        _ => message.text,
    };
    let mut line = BotLine {
        from_bot: true,
        text,
        image,
        quick_replies: message.quick_replies,
        ..BotLine::default()
    };
    let streamed = stream_id.and_then(|id| lines.iter_mut().find(|l| l.streaming == Some(id)));
    match streamed {
        Some(old) => {
            line.key = old.key;
            line.revision = old.revision + 1;
            *old = line;
        }
        None => {
            line.key = lines.len();
            lines.push(line);
        }
    }
}

/// A Botmaster event: a JSON string holding a [`BotmasterUpdate`] (the
/// echo of the user's own words has the same shape, with a sender instead).
fn botmaster_update(arg: &Value) -> Option<BotmasterUpdate> {
    let mut parsed: Value = serde_json::from_str(arg.as_str()?).ok()?;
    if let Some(object) = parsed.as_object_mut()
        && !object.contains_key("recipient")
    {
        let sender = object.remove("sender")?;
        object.insert("recipient".to_owned(), sender);
    }
    serde_json::from_value(parsed).ok()
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
