//! The private conversation with the bot (Botmaster's protocol): its
//! events, and sending to the bot through its own outbox.

use leptos::prelude::*;
use serde_json::Value;
use shared::events::{BOT_HISTORY, BOT_STREAM, BOTMASTER_ECHO, BOTMASTER_MESSAGE};
use shared::{
    BotHistoryEntry, BotStreamDelta, BotmasterInput, MessageBody, QuickReply, QuickReplyChoice,
    SendOutcome, ValidationError,
};

use crate::chat::{Chat, Next, botmaster_arg};
use crate::outbox::{self, PendingPrivate, Queued as _};
use crate::private_lines::{self, Change, PrivateLine, PrivateLinesStoreFields as _};

impl Chat {
    /// Takes an event of the private conversation; ignores any other.
    pub(crate) fn on_private_event(&self, name: &str, args: &[Value]) {
        match name {
            BOT_HISTORY => {
                if let Some(history) = botmaster_arg::<Vec<BotHistoryEntry>>(args) {
                    let waiting = outbox::PRIVATE.load();
                    let mut done = Vec::new();
                    self.change_private(|lines| {
                        done = private_lines::replace_with_history(lines, history, waiting);
                        Change::List
                    });
                    for client_id in done {
                        outbox::PRIVATE.remove(&client_id);
                    }
                }
            }
            BOTMASTER_MESSAGE => {
                if let Some(update) = args.first().and_then(private_lines::botmaster_update) {
                    self.change_private(|lines| private_lines::complete_bot_line(lines, update));
                }
            }
            BOTMASTER_ECHO => {
                if let Some(update) = args.first().and_then(private_lines::botmaster_update) {
                    self.change_private(|lines| private_lines::push_echo(lines, update));
                }
            }
            BOT_STREAM => {
                if let Some(piece) = botmaster_arg::<BotStreamDelta>(args) {
                    self.change_private(|lines| private_lines::grow_bot_line(lines, piece));
                }
            }
            _ => {}
        }
    }

    /// Like [`Chat::pump_group`], for the private conversation.
    pub(crate) fn pump_private(&self) {
        if !self.may_send(self.private_flight) {
            return;
        }
        let Some(head) = outbox::PRIVATE.load().into_iter().next() else {
            return;
        };
        // An object, as the published Botmaster's clients send it: the server
        // then answers this user's tabs with objects too.
        let payload = serde_json::to_value(&head.0).expect("plain data always serialises");
        self.deliver(
            self.private_flight,
            BOTMASTER_MESSAGE,
            payload,
            Chat::pump_private,
            move |chat, outcome| {
                let client_id = head.client_id().to_owned();
                match outcome {
                    Some(SendOutcome::Rejected(refusal)) if refusal.code.is_retryable() => {
                        return Next::retry_after(&refusal);
                    }
                    Some(SendOutcome::Rejected(refusal)) => {
                        chat.private_error.set(Some(refusal.message));
                        chat.change_private(|lines| {
                            private_lines::remove_sending(lines, &client_id)
                        });
                    }
                    Some(SendOutcome::Accepted { id }) => {
                        // The ack has no time; the server stored it just now.
                        let now = js_sys::Date::now() as u64;
                        chat.change_private(|lines| {
                            private_lines::mark_sent(lines, &client_id, id.0, now)
                        });
                    }
                    None => return Next::Pump,
                }
                outbox::PRIVATE.remove(&client_id);
                Next::Pump
            },
        );
    }

    /// Tells the bot `text`, privately. Shown at once in this tab; the
    /// user's other tabs get it from the server.
    pub fn send_private(&self, text: &str) -> Result<(), ValidationError> {
        let text = MessageBody::parse(text)?;
        self.tell_private(BotmasterInput {
            text: text.as_str().to_owned(),
            quick_reply: None,
            client_id: None,
        });
        Ok(())
    }

    /// Picks a quick reply: shown as its title, sent to the bot as its payload.
    pub fn pick_quick_reply(&self, choice: &QuickReply) {
        self.tell_private(BotmasterInput {
            text: choice.title.clone(),
            quick_reply: Some(QuickReplyChoice {
                payload: choice.payload.clone(),
            }),
            client_id: None,
        });
    }

    /// Shows `input` at once as sending, keeps it in the private outbox, and
    /// sends it (now if connected, else on the next connection).
    fn tell_private(&self, mut input: BotmasterInput) {
        let client_id = outbox::new_client_id();
        input.client_id = Some(client_id.clone());
        let text = input.text.clone();
        outbox::PRIVATE.add(PendingPrivate(input));
        self.private_error.set(None);
        self.change_private(|lines| private_lines::push_sending_line(lines, text, client_id));
        self.pump_private();
    }

    /// Changes the private lines with `change`, then wakes what it touched:
    /// the one line whose fields changed, or the whole list.
    fn change_private(&self, change: impl FnOnce(&mut Vec<PrivateLine>) -> Change) {
        let lines = self.private_lines.lines();
        // Untracked: the guard updates the keys when it drops, without waking anything.
        let touched = change(&mut lines.write_untracked());
        match touched {
            Change::Nothing => {}
            Change::Line(key) => lines.at_key(key).update(|_| {}),
            Change::List => lines.notify(),
        }
    }
}
