//! The group rooms: their events, the page address naming the room on
//! screen, sending through the group outbox, renaming, joining and leaving,
//! read marks and typing.

use leptos::prelude::*;
use serde_json::{Map, Value, json};
use shared::events::{
    BOT_MESSAGE, HISTORY, JOIN, LEAVE, NEW_MESSAGE, OLDER, PRESENCE, READ, ROOMS, TYPING,
};
use shared::{
    ChatMessage, History, JoinRequest, MessageId, OlderRequest, Presence, ReadMark, RoomName,
    RoomOutcome, SendOutcome, TYPING_EVERY_MS, TYPING_SHOWN_MS, Typing, ValidationError, Welcome,
};

use crate::chat::{ACK_TIMEOUT, Chat, Next, first_arg};
use crate::outbox::{self, Pending};
use crate::rooms;

/// The room named by the page's address (`#dev`), or `general`.
pub fn room_in_address() -> RoomName {
    let hash = window().location().hash().unwrap_or_default();
    RoomName::parse(hash.trim_start_matches('#')).unwrap_or_default()
}

/// The page clock, in milliseconds.
fn now() -> f64 {
    js_sys::Date::now()
}

impl Chat {
    /// Takes an event of the group rooms; returns false for any other.
    pub(crate) fn on_group_event(&self, name: &str, args: &[Value]) -> bool {
        match name {
            ROOMS => {
                if let Some(welcome) = first_arg::<Welcome>(args) {
                    self.name.set(welcome.name.map(|n| n.as_str().to_owned()));
                    let current = self.current.get_untracked();
                    self.rooms
                        .update(|list| rooms::welcome(list, welcome.rooms, &current));
                    // A shared address names a room the user is not in yet.
                    if !self
                        .rooms
                        .with_untracked(|list| list.contains_key(&current))
                    {
                        self.join(current.as_str());
                    }
                }
            }
            HISTORY => {
                if let Some(history) = first_arg::<History>(args) {
                    self.confirm_sent(&history.messages);
                    self.rooms
                        .update(|list| rooms::apply_history(list, history));
                }
            }
            NEW_MESSAGE | BOT_MESSAGE => {
                if let Some(message) = first_arg::<ChatMessage>(args) {
                    self.confirm_sent(std::slice::from_ref(&message));
                    if !self.is_mine(&message) {
                        crate::notify::message(message.room.as_str(), &message);
                    }
                    self.rooms.update(|list| rooms::append(list, message));
                }
            }
            READ => {
                if let Some(mark) = first_arg::<ReadMark>(args) {
                    self.rooms
                        .update(|list| _ = rooms::mark_read(list, &mark.room, mark.id));
                }
            }
            PRESENCE => {
                if let Some(presence) = first_arg::<Presence>(args) {
                    self.rooms.update(|list| rooms::presence(list, presence));
                }
            }
            TYPING => {
                if let Some(typing) = first_arg::<Typing>(args) {
                    let me = self.user_id.get_untracked();
                    let until = now() + TYPING_SHOWN_MS as f64;
                    self.rooms
                        .update(|list| rooms::typing(list, typing, me.as_deref(), until));
                }
            }
            _ => return false,
        }
        true
    }

    /// What the page has, for the server on reconnecting: the last id of
    /// each room (`general`'s also as the tutorial-era `lastId`).
    pub(crate) fn have(&self) -> Value {
        let rooms: Map<String, Value> = self.rooms.with_untracked(|list| {
            list.iter()
                .filter_map(|(name, room)| Some((name.to_string(), json!(room.last_id()?))))
                .collect()
        });
        let general = rooms.get(shared::GENERAL).cloned();
        json!({"rooms": rooms, "lastId": general})
    }

    /// Whether `message` was sent by this user (any tab) or this browser.
    pub fn is_mine(&self, message: &ChatMessage) -> bool {
        let me = self.user_id.get_untracked();
        message.user_id.is_some() && message.user_id == me
            || message
                .client_id
                .as_ref()
                .is_some_and(|id| outbox::is_mine(id.as_str()))
    }

    /// Shows the room the address names, joining it when new; follows the
    /// address as it changes (links, back and forward).
    pub(crate) fn follow_address(&self) {
        let chat = self.clone();
        let changed = window_event_listener(leptos::ev::hashchange, move |_| {
            let room = room_in_address();
            if !chat.rooms.with_untracked(|list| list.contains_key(&room)) {
                chat.join(room.as_str());
            }
            chat.current.set(room);
        });
        // The listener lives as long as the page.
        std::mem::forget(changed);
    }

    /// Forgets who stopped typing, every second.
    pub(crate) fn expire_typing(&self) {
        let rooms = self.rooms;
        leptos::task::spawn_local(async move {
            loop {
                gloo_timers::future::sleep(std::time::Duration::from_secs(1)).await;
                let changed = rooms
                    .try_update(|list| rooms::expire_typing(list, now()))
                    .unwrap_or(false);
                if !changed && rooms.is_disposed() {
                    return;
                }
            }
        });
    }

    /// Enters (or creates) the room named `raw` and shows it.
    pub fn join(&self, raw: &str) {
        let room = match RoomName::parse(raw) {
            Ok(room) => room,
            Err(bad) => return self.error.set(Some(bad.to_string())),
        };
        let last_id = self
            .rooms
            .with_untracked(|list| list.get(&room).and_then(rooms::Room::last_id));
        let request = JoinRequest {
            room: room.to_string(),
            last_id: last_id.map(MessageId),
        };
        let chat = self.clone();
        let payload = serde_json::to_value(request).unwrap_or(Value::Null);
        self.socket
            .emit_with_ack(JOIN, payload, ACK_TIMEOUT, move |answer| {
                match answer.as_deref().and_then(first_arg::<RoomOutcome>) {
                    Some(RoomOutcome::Joined(state)) => {
                        chat.rooms.update(|list| {
                            let entry = list.entry(state.room.clone()).or_default();
                            entry.last_read = entry.last_read.max(state.last_read);
                        });
                        chat.show(&state.room);
                    }
                    Some(RoomOutcome::Rejected(refusal)) => chat.error.set(Some(refusal.message)),
                    None => {}
                }
            });
    }

    /// Puts `room` on screen, and its name in the address to share.
    pub fn show(&self, room: &RoomName) {
        self.current.set(room.clone());
        let hash = format!("#{room}");
        if window().location().hash().ok().as_deref() != Some(hash.as_str()) {
            let _ = window().location().set_hash(&hash);
        }
    }

    /// Leaves `room` (never `general`) and shows `general`.
    pub fn leave(&self, room: &RoomName) {
        if room.is_general() {
            return;
        }
        self.socket
            .emit_with_ack(LEAVE, json!({"room": room.as_str()}), ACK_TIMEOUT, |_| {});
        self.rooms.update(|list| _ = list.remove(room));
        self.show(&RoomName::general());
    }

    /// The user has read the room on screen up to its newest message.
    pub fn mark_read(&self) {
        let room = self.current.get_untracked();
        let newest = self
            .rooms
            .with_untracked(|list| list.get(&room).and_then(rooms::Room::last_id));
        let Some(id) = newest.map(MessageId) else {
            return;
        };
        let mut moved = false;
        self.rooms
            .update(|list| moved = rooms::mark_read(list, &room, id));
        if moved {
            let mark = serde_json::to_value(ReadMark { room, id }).unwrap_or(Value::Null);
            self.socket.emit_with_ack(READ, mark, ACK_TIMEOUT, |_| {});
        }
    }

    /// The user is typing in the room on screen: said at most every
    /// [`TYPING_EVERY_MS`].
    pub fn typing(&self) {
        let at = now();
        if at - self.typed_at.get_value() < TYPING_EVERY_MS as f64 {
            return;
        }
        self.typed_at.set_value(at);
        let room = self.current.get_untracked();
        self.socket
            .emit_with_ack(TYPING, json!({"room": room.as_str()}), ACK_TIMEOUT, |_| {});
    }

    /// Checks `body` with the shared rules and sends it to `room` under
    /// `user`. It shows as "sending" until the server has stored it; while
    /// offline it waits, and it survives a reload.
    pub fn send(&self, room: RoomName, user: &str, body: &str) -> Result<(), ValidationError> {
        let message = shared::NewMessage {
            user: Some(user.to_owned()),
            body: body.to_owned(),
            client_id: None,
            room: None,
        };
        let (user, body) = message.validate()?;
        let pending = Pending {
            client_id: outbox::new_client_id(),
            user: user.as_str().to_owned(),
            body: body.as_str().to_owned(),
            room,
        };
        self.outbox.set(outbox::GROUP.add(pending));
        self.error.set(None);
        self.typed_at.set_value(0.0);
        self.pump_group();
        Ok(())
    }

    /// Sends the oldest message of the group outbox, if connected and none
    /// is on its way. One at a time keeps the sender's order through
    /// refusals and retries, and never bursts into the rate limit.
    pub(crate) fn pump_group(&self) {
        if !self.may_send(self.group_flight) {
            return;
        }
        let Some(head) = outbox::GROUP.load().into_iter().next() else {
            return;
        };
        let payload = json!({
            "user": head.user,
            "body": head.body,
            "client_id": head.client_id,
            "room": head.room.as_str(),
        });
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

    /// Takes acknowledged messages out of the outbox: those that arrived
    /// carrying a client id of one of ours (their ack may have been lost).
    fn confirm_sent(&self, arrived: &[ChatMessage]) {
        let ours: Vec<&str> = self.outbox.with_untracked(|pending| {
            arrived
                .iter()
                .filter_map(|m| m.client_id.as_ref().map(|id| id.as_str()))
                .filter(|id| pending.iter().any(|p| p.client_id == *id))
                .collect()
        });
        for client_id in ours {
            self.outbox.set(outbox::GROUP.remove(client_id));
        }
    }

    /// Fetches messages of the room on screen older than the first one
    /// shown, once at a time.
    pub fn load_older(&self) {
        let room = self.current.get_untracked();
        let (first, more) = self.rooms.with_untracked(|list| {
            list.get(&room).map_or((None, false), |r| {
                (r.entries.first().map(|e| e.message.id), r.more_before)
            })
        });
        let Some(before) = first else { return };
        if self.loading_older.get_untracked() || !more {
            return;
        }
        self.loading_older.set(true);
        self.ask_older(room.clone(), before, move |chat, older| {
            chat.loading_older.set(false);
            let Some(older) = older else { return };
            chat.rooms.update(|list| {
                let Some(held) = list.get_mut(&room) else {
                    return;
                };
                // After a reset the list starts elsewhere; these would leave a hole.
                if held.entries.first().map(|e| e.message.id) == Some(before) {
                    held.more_before = older.more;
                    rooms::merge(&mut held.entries, older.messages);
                }
            });
        });
    }

    /// Asks for the page of `room` before message `before`; `then` gets it,
    /// or `None` without an answer in time.
    fn ask_older(
        &self,
        room: RoomName,
        before: MessageId,
        then: impl FnOnce(&Chat, Option<History>) + Send + 'static,
    ) {
        let chat = self.clone();
        let request = serde_json::to_value(OlderRequest { before, room }).unwrap_or(Value::Null);
        self.socket
            .emit_with_ack(OLDER, request, ACK_TIMEOUT, move |answer| {
                then(&chat, answer.as_deref().and_then(first_arg::<History>));
            });
    }

    /// Ids are dense per room, so a hole in a room is a message this page
    /// missed (a broadcast its connection could not take): fetch what is
    /// just before the hole's upper edge, once at a time, until none is left.
    pub(crate) fn fill_hole(&self) {
        if self.filling.get_value() {
            return;
        }
        let hole = self.rooms.with_untracked(|list| {
            list.iter().find_map(|(name, room)| {
                room.entries.windows(2).rev().find_map(|pair| {
                    let (low, high) = (pair[0].message.id, pair[1].message.id);
                    (high.0 > low.0 + 1).then(|| (name.clone(), low, high))
                })
            })
        });
        let Some((room, low, high)) = hole else {
            return;
        };
        self.filling.set_value(true);
        self.ask_older(room.clone(), high, move |chat, older| {
            chat.filling.set_value(false);
            let Some(older) = older else { return };
            let missing: Vec<ChatMessage> =
                older.messages.into_iter().filter(|m| m.id > low).collect();
            if !missing.is_empty() {
                chat.rooms.update(|list| {
                    if let Some(held) = list.get_mut(&room) {
                        rooms::merge(&mut held.entries, missing);
                    }
                });
            }
        });
    }
}
