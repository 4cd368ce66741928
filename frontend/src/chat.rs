//! The chat as the page sees it: the messages so far, the ones still being
//! sent, the connection state, and the one error to show. The socket driver
//! writes these signals; the components read them and call [`Chat::send`].
//!
//! Nothing typed is lost: a message goes to the [`outbox`] first and stays
//! there, shown as "sending", until the server acknowledges it; every
//! (re)connection sends the outbox again, and the server stores each
//! message once. On reconnecting the page tells the server the last message
//! it has and gets exactly what it missed.

use std::time::Duration;

use leptos::prelude::*;
use protocol::{ClientEvent, ConnectionState, TransportKind};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::events::{
    BOT_HISTORY, BOT_MESSAGE, BOT_STREAM, BOTMASTER_ECHO, BOTMASTER_MESSAGE, CHAT_ERROR, HISTORY,
    NEW_MESSAGE, OLDER,
};
use shared::{
    BotHistoryEntry, BotStreamDelta, BotmasterInput, ChatError, ChatMessage, History, MessageBody,
    NewMessage, OlderRequest, QuickReply, QuickReplyChoice, SendOutcome, ValidationError,
};

use crate::bot_lines::{self, BotLine};
use crate::outbox::{self, Pending, PendingForBot, Queued as _};
use crate::session;
use crate::socket::{self, SocketHandle};

/// How long to wait for the server to acknowledge a message before sending it again.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before sending again what the server asked to retry
/// (rate limited, overloaded, or unable to store it just now), unless the
/// server said how long.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// One message of the group conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The message as the server published it; its id is the list's key.
    pub message: ChatMessage,
    /// Whether the bot wrote it; shown differently.
    pub from_bot: bool,
}

/// The chat's state, provided to every component as context.
#[derive(Debug, Clone)]
pub struct Chat {
    /// The group conversation as far as the page has it, in server order.
    pub entries: RwSignal<Vec<Entry>>,
    /// Messages sent and not yet acknowledged, oldest first.
    pub outbox: RwSignal<Vec<Pending>>,
    /// Whether older messages than the first entry exist on the server.
    pub more_before: RwSignal<bool>,
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
    /// Why the server refused a message to the bot.
    pub bot_error: RwSignal<Option<String>>,
    /// The session token, sent again with every reconnection.
    token: RwSignal<Option<String>>,
    /// Whether older messages are being fetched.
    loading_older: RwSignal<bool>,
    /// Whether a hole in the list is being filled.
    filling: StoredValue<bool>,
    /// The group message the server is being asked to store, by delivery number.
    group_flight: StoredValue<Option<u64>>,
    /// The same for the private conversation.
    bot_flight: StoredValue<Option<u64>>,
    /// Numbers deliveries, so an answer to an old one (from before a reconnection) is ignored.
    deliveries: StoredValue<u64>,
    socket: SocketHandle,
}

impl Chat {
    /// Connects to the server that served the page.
    pub fn connect() -> Self {
        let entries = RwSignal::new(Vec::new());
        let outbox = RwSignal::new(outbox::GROUP.load());
        let more_before = RwSignal::new(false);
        let status = RwSignal::new(ConnectionState::Connecting);
        let transport = RwSignal::new(None);
        let bot_lines = RwSignal::new(Vec::new());
        let user_id = RwSignal::new(None);
        let token = RwSignal::new(None);
        let error = RwSignal::new(None);
        let auth = async move {
            let session = session::load_or_create().await;
            user_id.set(session.as_ref().map(|s| s.user_id.clone()));
            token.set(session.as_ref().map(|s| s.token.clone()));
            session.map(|s| json!({"token": s.token}))
        };
        let socket = socket::connect(auth, move |event| match event {
            ClientEvent::StateChanged(state) => status.set(state),
            ClientEvent::Event { name, args, .. } => match name.as_str() {
                HISTORY => {
                    if let Some(history) = first_arg::<History>(&args) {
                        if history.reset {
                            more_before.set(history.more);
                        }
                        confirm_sent(outbox, &history.messages);
                        entries.update(|list| apply_history(list, history));
                    }
                }
                NEW_MESSAGE | BOT_MESSAGE => {
                    if let Some(message) = first_arg::<ChatMessage>(&args) {
                        confirm_sent(outbox, std::slice::from_ref(&message));
                        entries.update(|list| append(list, message));
                    }
                }
                BOT_HISTORY => {
                    if let Some(history) = botmaster_arg::<Vec<BotHistoryEntry>>(&args) {
                        let waiting = outbox::BOT.load();
                        let mut done = Vec::new();
                        bot_lines.update(|lines| {
                            done = bot_lines::replace_with_history(lines, history, waiting);
                        });
                        for client_id in done {
                            outbox::BOT.remove(&client_id);
                        }
                    }
                }
                BOTMASTER_MESSAGE => {
                    if let Some(update) = args.first().and_then(bot_lines::botmaster_update) {
                        bot_lines.update(|lines| bot_lines::complete_bot_line(lines, update));
                    }
                }
                BOTMASTER_ECHO => {
                    if let Some(update) = args.first().and_then(bot_lines::botmaster_update) {
                        bot_lines.update(|lines| bot_lines::push_echo(lines, update));
                    }
                }
                BOT_STREAM => {
                    if let Some(piece) = botmaster_arg::<BotStreamDelta>(&args) {
                        bot_lines.update(|lines| bot_lines::grow_bot_line(lines, piece));
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
        let chat = Self {
            entries,
            outbox,
            more_before,
            status,
            transport,
            error,
            bot_lines,
            user_id,
            bot_error: RwSignal::new(None),
            token,
            loading_older: RwSignal::new(false),
            filling: StoredValue::new(false),
            group_flight: StoredValue::new(None),
            bot_flight: StoredValue::new(None),
            deliveries: StoredValue::new(0),
            socket,
        };
        let filler = chat.clone();
        Effect::new(move |_| {
            filler.entries.track();
            filler.fill_hole();
        });
        let on_change = chat.clone();
        Effect::new(move |_| match on_change.status.get() {
            // Whatever is still in the outboxes goes (again) on every connection;
            // answers to what was in flight before are stale now.
            ConnectionState::Connected => {
                on_change.group_flight.set_value(None);
                on_change.bot_flight.set_value(None);
                on_change.pump_group();
                on_change.pump_bot();
            }
            // Before the next attempt: say what the page already has.
            ConnectionState::Reconnecting { .. } => on_change.socket.set_auth(Some(json!({
                "token": on_change.token.get_untracked(),
                "lastId": on_change.last_id(),
            }))),
            _ => {}
        });
        chat
    }

    /// Checks `message` with the shared rules and sends it. It shows as
    /// "sending" until the server has stored it; while offline it waits, and
    /// it survives a reload.
    pub fn send(&self, message: &NewMessage) -> Result<(), ValidationError> {
        let (user, body) = message.validate()?;
        let pending = Pending {
            client_id: outbox::new_client_id(),
            user: user.as_str().to_owned(),
            body: body.as_str().to_owned(),
        };
        self.outbox.set(outbox::GROUP.add(pending));
        self.error.set(None);
        self.pump_group();
        Ok(())
    }

    /// Sends the oldest message of the group outbox, if connected and none
    /// is on its way. One at a time keeps the sender's order through
    /// refusals and retries, and never bursts into the rate limit.
    fn pump_group(&self) {
        if !self.may_send(self.group_flight) {
            return;
        }
        let Some(head) = outbox::GROUP.load().into_iter().next() else {
            return;
        };
        let payload = json!({"user": head.user, "body": head.body, "client_id": head.client_id});
        self.deliver(
            self.group_flight,
            NEW_MESSAGE,
            payload,
            Chat::pump_group,
            move |chat, outcome| {
                match outcome {
                    Some(SendOutcome::Rejected(refusal)) if refusal.code.is_retryable() => {
                        return Next::retry_after(&refusal);
                    }
                    Some(SendOutcome::Rejected(refusal)) => chat.error.set(Some(refusal.message)),
                    Some(SendOutcome::Accepted { .. }) => {
                        // A "slow down" or "try later" shown meanwhile is over.
                        chat.error.set(None);
                    }
                    // No answer in time: the same message again.
                    None => return Next::Pump,
                }
                chat.outbox.set(outbox::GROUP.remove(&head.client_id));
                Next::Pump
            },
        );
    }

    /// Like [`Chat::pump_group`], for the private conversation.
    fn pump_bot(&self) {
        if !self.may_send(self.bot_flight) {
            return;
        }
        let Some(head) = outbox::BOT.load().into_iter().next() else {
            return;
        };
        // An object, as the published Botmaster's clients send it: the server
        // then answers this user's tabs with objects too.
        let payload = serde_json::to_value(&head.0).expect("plain data always serialises");
        self.deliver(
            self.bot_flight,
            BOTMASTER_MESSAGE,
            payload,
            Chat::pump_bot,
            move |chat, outcome| {
                let client_id = head.client_id().to_owned();
                match outcome {
                    Some(SendOutcome::Rejected(refusal)) if refusal.code.is_retryable() => {
                        return Next::retry_after(&refusal);
                    }
                    Some(SendOutcome::Rejected(refusal)) => {
                        chat.bot_error.set(Some(refusal.message));
                        chat.bot_lines
                            .update(|lines| bot_lines::remove_sending(lines, &client_id));
                    }
                    Some(SendOutcome::Accepted { id }) => {
                        chat.bot_lines
                            .update(|lines| bot_lines::mark_sent(lines, &client_id, id.0));
                    }
                    None => return Next::Pump,
                }
                outbox::BOT.remove(&client_id);
                Next::Pump
            },
        );
    }

    fn may_send(&self, flight: StoredValue<Option<u64>>) -> bool {
        self.status.get_untracked() == ConnectionState::Connected && flight.get_value().is_none()
    }

    /// Emits `payload` with an ack as delivery `flight`; `settle` decides
    /// from the server's answer (`None`: no answer in time) whether `pump`
    /// sends the next message now or after a while.
    fn deliver(
        &self,
        flight: StoredValue<Option<u64>>,
        event: &'static str,
        payload: Value,
        pump: fn(&Chat),
        settle: impl FnOnce(&Chat, Option<SendOutcome>) -> Next + Send + 'static,
    ) {
        let number = self.deliveries.get_value() + 1;
        self.deliveries.set_value(number);
        flight.set_value(Some(number));
        let chat = self.clone();
        self.socket
            .emit_with_ack(event, payload, ACK_TIMEOUT, move |answer| {
                if flight.get_value() != Some(number) {
                    // Superseded by a reconnection, which sent the outbox again.
                    return;
                }
                flight.set_value(None);
                let outcome = answer.as_deref().and_then(first_arg::<SendOutcome>);
                match settle(&chat, outcome) {
                    Next::Pump => pump(&chat),
                    Next::RetryLater(delay) => leptos::task::spawn_local(async move {
                        gloo_timers::future::sleep(delay).await;
                        pump(&chat);
                    }),
                }
            });
    }

    /// The id of the newest message the page has; `None` when it has none,
    /// so the server sends the latest ones rather than the oldest.
    fn last_id(&self) -> Option<u64> {
        self.entries
            .with_untracked(|list| list.last().map(|entry| entry.message.id.0))
    }

    /// Fetches messages older than the first one shown, once at a time.
    pub fn load_older(&self) {
        let first = self
            .entries
            .with_untracked(|list| list.first().map(|entry| entry.message.id));
        let Some(before) = first else { return };
        if self.loading_older.get_untracked() || !self.more_before.get_untracked() {
            return;
        }
        self.loading_older.set(true);
        let chat = self.clone();
        let request = serde_json::to_value(OlderRequest { before }).unwrap_or(Value::Null);
        self.socket
            .emit_with_ack(OLDER, request, ACK_TIMEOUT, move |answer| {
                chat.loading_older.set(false);
                let Some(older) = answer.as_deref().and_then(first_arg::<History>) else {
                    return;
                };
                let still_first = chat
                    .entries
                    .with_untracked(|list| list.first().map(|e| e.message.id) == Some(before));
                // After a reset the list starts elsewhere; these would leave a hole.
                if still_first {
                    chat.more_before.set(older.more);
                    chat.entries.update(|list| merge(list, older.messages));
                }
            });
    }

    /// Ids are dense per room, so a hole in the list is a message this page
    /// missed (a broadcast its connection could not take): fetch what is
    /// just before the hole's upper edge, once at a time, until none is left.
    fn fill_hole(&self) {
        if self.filling.get_value() {
            return;
        }
        let hole = self.entries.with_untracked(|list| {
            list.windows(2).rev().find_map(|pair| {
                let (low, high) = (pair[0].message.id, pair[1].message.id);
                (high.0 > low.0 + 1).then_some((low, high))
            })
        });
        let Some((low, high)) = hole else { return };
        self.filling.set_value(true);
        let chat = self.clone();
        let request = serde_json::to_value(OlderRequest { before: high }).unwrap_or(Value::Null);
        self.socket
            .emit_with_ack(OLDER, request, ACK_TIMEOUT, move |answer| {
                chat.filling.set_value(false);
                let Some(older) = answer.as_deref().and_then(first_arg::<History>) else {
                    return;
                };
                let missing: Vec<ChatMessage> =
                    older.messages.into_iter().filter(|m| m.id > low).collect();
                if !missing.is_empty() {
                    chat.entries.update(|list| merge(list, missing));
                }
            });
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
            client_id: None,
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
            client_id: None,
        });
    }

    /// Shows `input` at once as sending, keeps it in the private outbox, and
    /// sends it (now if connected, else on the next connection).
    fn tell_bot(&self, mut input: BotmasterInput) {
        let client_id = outbox::new_client_id();
        input.client_id = Some(client_id.clone());
        let text = input.text.clone();
        outbox::BOT.add(PendingForBot(input));
        self.bot_error.set(None);
        self.bot_lines
            .update(|lines| bot_lines::push_sending_line(lines, text, client_id));
        self.pump_bot();
    }
}

/// What to do after the server answered a delivery.
enum Next {
    /// Send the next message of the outbox (or the same one again).
    Pump,
    /// The server asked to try again after this long.
    RetryLater(Duration),
}

impl Next {
    /// Retry when the refusal says, or after [`RETRY_DELAY`].
    fn retry_after(refusal: &ChatError) -> Self {
        Self::RetryLater(
            refusal
                .retry_after_ms
                .map_or(RETRY_DELAY, Duration::from_millis),
        )
    }
}

/// Takes acknowledged messages out of the outbox: those that arrived
/// carrying a client id of one of ours (their ack may have been lost).
fn confirm_sent(outbox: RwSignal<Vec<Pending>>, arrived: &[ChatMessage]) {
    let ours: Vec<&str> = outbox.with_untracked(|pending| {
        arrived
            .iter()
            .filter_map(|m| m.client_id.as_ref().map(|id| id.as_str()))
            .filter(|id| pending.iter().any(|p| p.client_id == *id))
            .collect()
    });
    for client_id in ours {
        outbox.set(outbox::GROUP.remove(client_id));
    }
}

fn entry(message: ChatMessage) -> Entry {
    let from_bot = message.from_bot();
    Entry { message, from_bot }
}

/// Adds a live message unless the page has it already.
fn append(list: &mut Vec<Entry>, message: ChatMessage) {
    merge(list, vec![message]);
}

/// Adds what the server says the page missed, or starts over with it.
fn apply_history(list: &mut Vec<Entry>, history: History) {
    if history.reset {
        list.clear();
    }
    for message in history.messages {
        append(list, message);
    }
}

/// Puts `messages` where their ids belong, skipping any the page has.
fn merge(list: &mut Vec<Entry>, messages: Vec<ChatMessage>) {
    for message in messages {
        // Almost always at the end (live) or the start (older): found at once.
        match list.binary_search_by_key(&message.id, |e| e.message.id) {
            Ok(_) => {}
            Err(at) => list.insert(at, entry(message)),
        }
    }
}

/// The first argument of a Botmaster-mode event, which comes as an object
/// or, to a user who also has a tab speaking strings, as its JSON string.
fn botmaster_arg<T: DeserializeOwned>(args: &[Value]) -> Option<T> {
    match args.first()? {
        // Through a `Value`, whose reading the page has anyway: no second
        // deserialiser per type in the bundle.
        Value::String(json) => first_arg(&[serde_json::from_str::<Value>(json).ok()?]),
        _ => first_arg(args),
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
