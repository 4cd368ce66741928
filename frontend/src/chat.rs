//! The chat as the page sees it: the group rooms, the private conversation
//! with the bot, the connection state, and the one error to show. The
//! socket driver hands every event to the part it belongs to
//! ([`group`](crate::group) or [`private`](crate::private)); the components
//! read the signals and call the parts' methods.
//!
//! Nothing typed is lost: a message goes to an [`outbox`](crate::outbox)
//! first and stays there, shown as "sending", until the server acknowledges
//! it; every (re)connection sends the outboxes again, and the server stores
//! each message once. On reconnecting the page tells the server the last
//! message it has in each room and gets exactly what it missed.

use std::time::Duration;

use leptos::prelude::*;
use protocol::{ClientEvent, ConnectionState, TransportKind};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::events::CHAT_ERROR;
use shared::{ChatError, RoomName, SendOutcome};

use crate::outbox::{self, Pending};
use crate::private_lines::PrivateLines;
use crate::rooms::Rooms;
use crate::session;
use crate::socket::{self, SocketHandle};
use reactive_stores::Store;

pub use crate::rooms::Entry;

/// How long to wait for the server to acknowledge a message before sending it again.
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before sending again what the server asked to retry
/// (rate limited, overloaded, or unable to store it just now), unless the
/// server said how long.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The chat's state, provided to every component as context.
#[derive(Debug, Clone)]
pub struct Chat {
    /// The group rooms the user is in, as far as the page has them.
    pub rooms: RwSignal<Rooms>,
    /// The room on screen (the page address's `#name`).
    pub current: RwSignal<RoomName>,
    /// The session's display name, once chosen.
    pub name: RwSignal<Option<String>>,
    /// Messages sent and not yet acknowledged, oldest first.
    pub outbox: RwSignal<Vec<Pending>>,
    /// Where the connection stands.
    pub status: RwSignal<ConnectionState>,
    /// What carries the connection once it is up: WebSocket, or long-polling
    /// where WebSocket is blocked.
    pub transport: RwSignal<Option<TransportKind>>,
    /// The error to show under the form: the form's own check or the server's refusal.
    pub error: RwSignal<Option<String>>,
    /// The private conversation with the bot, as this tab has seen it.
    pub private_lines: Store<PrivateLines>,
    /// This browser's user id, once the server has given one.
    pub user_id: RwSignal<Option<String>>,
    /// Why the server refused a message to the bot.
    pub private_error: RwSignal<Option<String>>,
    /// The session token, sent again with every reconnection.
    token: RwSignal<Option<String>>,
    /// Whether older messages are being fetched.
    pub(crate) loading_older: RwSignal<bool>,
    /// Whether a hole in a room is being filled.
    pub(crate) filling: StoredValue<bool>,
    /// The group message the server is being asked to store, by delivery number.
    pub(crate) group_flight: StoredValue<Option<u64>>,
    /// The same for the private conversation.
    pub(crate) private_flight: StoredValue<Option<u64>>,
    /// Numbers deliveries, so an answer to an old one (from before a reconnection) is ignored.
    deliveries: StoredValue<u64>,
    /// When this tab last said the user is typing (page clock, ms).
    pub(crate) typed_at: StoredValue<f64>,
    pub(crate) socket: SocketHandle,
}

impl Chat {
    /// Connects to the server that served the page: wiring only, each event
    /// goes to the part of the chat it is about.
    pub fn connect() -> Self {
        // The handler needs the chat, which needs the socket: it finds the
        // chat here once made (the socket reports nothing before then: it
        // waits for the session first).
        let this = StoredValue::new(None::<Chat>);
        let user_id = RwSignal::new(None);
        let token = RwSignal::new(None);
        let auth = async move {
            let session = session::load_or_create().await;
            user_id.set(session.as_ref().map(|s| s.user_id.clone()));
            token.set(session.as_ref().map(|s| s.token.clone()));
            session.map(|s| json!({"token": s.token}))
        };
        let socket = socket::connect(auth, move |event| {
            if let Some(chat) = this.get_value() {
                chat.on_event(event);
            }
        });
        let chat = Self {
            rooms: RwSignal::new(Rooms::new()),
            current: RwSignal::new(crate::group::room_in_address()),
            name: RwSignal::new(None),
            outbox: RwSignal::new(outbox::GROUP.load()),
            status: RwSignal::new(ConnectionState::Connecting),
            transport: RwSignal::new(None),
            error: RwSignal::new(None),
            private_lines: Store::new(PrivateLines::default()),
            user_id,
            private_error: RwSignal::new(None),
            token,
            loading_older: RwSignal::new(false),
            filling: StoredValue::new(false),
            group_flight: StoredValue::new(None),
            private_flight: StoredValue::new(None),
            deliveries: StoredValue::new(0),
            typed_at: StoredValue::new(0.0),
            socket,
        };
        this.set_value(Some(chat.clone()));
        chat.watch();
        chat
    }

    fn on_event(&self, event: ClientEvent) {
        match event {
            ClientEvent::StateChanged(state) => self.status.set(state),
            ClientEvent::Event { name, args, .. } => {
                if name == CHAT_ERROR {
                    if let Some(refusal) = first_arg::<ChatError>(&args) {
                        self.error.set(Some(refusal.message));
                    }
                } else if !self.on_group_event(&name, &args) {
                    self.on_private_event(&name, &args);
                }
            }
            ClientEvent::Connected {
                transport: carrier, ..
            }
            | ClientEvent::Upgraded { transport: carrier } => self.transport.set(Some(carrier)),
            ClientEvent::ConnectError { message } => {
                session::forget();
                self.error.set(Some(format!(
                    "{message}; reload the page to start a new session"
                )));
            }
            ClientEvent::ProtocolError(problem) => {
                leptos::logging::warn!("protocol error from the server: {problem}");
            }
            ClientEvent::Disconnected { .. }
            | ClientEvent::Ack { .. }
            | ClientEvent::AckTimedOut { .. } => {}
        }
    }

    /// What happens on every change of the connection.
    fn watch(&self) {
        let filler = self.clone();
        Effect::new(move |_| {
            filler.rooms.track();
            filler.fill_hole();
        });
        let on_change = self.clone();
        Effect::new(move |_| match on_change.status.get() {
            // Whatever is still in the outboxes goes (again) on every connection;
            // answers to what was in flight before are stale now.
            ConnectionState::Connected => {
                on_change.group_flight.set_value(None);
                on_change.private_flight.set_value(None);
                on_change.pump_group();
                on_change.pump_private();
            }
            // Before the next attempt: say what the page already has.
            ConnectionState::Reconnecting { .. } => {
                let mut auth = on_change.have();
                auth["token"] = json!(on_change.token.get_untracked());
                on_change.socket.set_auth(Some(auth));
            }
            _ => {}
        });
        self.follow_address();
        self.expire_typing();
    }

    pub(crate) fn may_send(&self, flight: StoredValue<Option<u64>>) -> bool {
        self.status.get_untracked() == ConnectionState::Connected && flight.get_value().is_none()
    }

    /// Emits `payload` with an ack as delivery `flight`; `settle` decides
    /// from the server's answer (`None`: no answer in time) whether `pump`
    /// sends the next message now or after a while.
    pub(crate) fn deliver(
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
}

/// What to do after the server answered a delivery.
pub(crate) enum Next {
    /// Send the next message of the outbox (or the same one again).
    Pump,
    /// The server asked to try again after this long.
    RetryLater(Duration),
}

impl Next {
    /// Retry when the refusal says, or after [`RETRY_DELAY`].
    pub(crate) fn retry_after(refusal: &ChatError) -> Self {
        Self::RetryLater(
            refusal
                .retry_after_ms
                .map_or(RETRY_DELAY, Duration::from_millis),
        )
    }
}

/// The first argument of a Botmaster-mode event, which comes as an object
/// or, to a user who also has a tab speaking strings, as its JSON string.
pub(crate) fn botmaster_arg<T: DeserializeOwned>(args: &[Value]) -> Option<T> {
    match args.first()? {
        // Through a `Value`, whose reading the page has anyway: no second
        // deserialiser per type in the bundle.
        Value::String(json) => first_arg(&[serde_json::from_str::<Value>(json).ok()?]),
        _ => first_arg(args),
    }
}

pub(crate) fn first_arg<T: DeserializeOwned>(args: &[Value]) -> Option<T> {
    let value = args.first()?;
    match serde_json::from_value(value.clone()) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            leptos::logging::warn!("ignoring an event the page cannot read: {error}");
            None
        }
    }
}
