//! The private conversation (Botmaster mode): one-to-one between a user and
//! the bot, spoken in the wire format of Botmaster's socket.io channel, so
//! its original `client_app.js` works unchanged. The page calls it the
//! private conversation too (`frontend/src/private.rs`); "Botmaster" names
//! the protocol and its wire types (`shared::botmaster`). Every socket of a user is in that user's
//! room; the bot's replies reach all of them, and nobody else.

use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde_json::{Value, json};
use shared::events::{BOT_HISTORY, BOT_STREAM, BOTMASTER_MESSAGE, CHAT_ERROR};
use shared::{
    BotHistoryEntry, BotStreamDelta, BotmasterInput, BotmasterMessage, BotmasterUpdate, ChatError,
    ClientMessageId, MessageBody, MessageId, QuickReplyChoice, Recipient, SendOutcome,
};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::socket::Sid;
use tokio::sync::mpsc;

use super::Hub;
use super::conversation::{PRIVATE, private_key};
use super::dialect::encode;
use super::history::{RECENT, keep_latest_page, now};
use super::private_feed::{self, ANSWERS, Origin, STREAM_ID};
use super::publisher::Handoff;
use super::refusal::{Refusal, refuse};
use super::unsaved::Unsaved;
use crate::bot::{BotReply, Speaker};
use crate::drain::Work;
use crate::identity::UserId;
use crate::limits::{Action, Client};
use crate::store::{Appended, Draft, Store, StoreError, Stored};

/// Joins `socket` to its user's room and listens for Botmaster messages.
/// They are answered one after another, in the order the socket sent them,
/// by a task that ends when the socket is gone, under `client`'s limits,
/// shared with the group chat.
pub(super) fn attach(socket: &SocketRef, io: SocketIo, hub: Hub, user: UserId, client: Client) {
    let sid = socket.id;
    // A room of its own lets the worker leave this socket out of the echo
    // without holding the socket (which would keep it alive forever).
    socket.join([private_key(&user), sid.to_string()]);
    let (limits, dialects, speaker) = (hub.limits.clone(), hub.dialects.clone(), user.clone());
    let (metrics, drain) = (hub.metrics.clone(), hub.drain.clone());
    // Two stages: what the user says is stored, acknowledged and echoed at
    // once, in order; the bot answers it after, one question at a time, so a
    // long answer never holds back the next acknowledgement.
    // Each message holds a ticket of the drain until it is answered.
    let (queue, mut pending) = mpsc::unbounded_channel::<(Said, AckSender, Work)>();
    let (questions, mut asked) = mpsc::unbounded_channel::<(MessageBody, u64, Work)>();
    let (answer_io, answer_hub, answer_user) = (io.clone(), hub.clone(), user.clone());
    tokio::spawn(async move {
        // What could not be stored, for the user's later lines to wait for.
        let mut unsaved = Unsaved::default();
        while let Some((said, ack, work)) = pending.recv().await {
            let client_id = said.client_id.as_ref().map(ClientMessageId::as_str);
            if !unsaved.admits(client_id, std::time::Instant::now()) {
                refuse_unsent(&io, &hub, sid, &Refusal::AfterUnsaved, ack).await;
                continue;
            }
            if let Some((question, id)) =
                record(&io, &hub, &user, sid, said, ack, &mut unsaved).await
            {
                let _ = questions.send((question, id, work));
            }
        }
    });
    tokio::spawn(async move {
        while let Some((question, id, work)) = asked.recv().await {
            answer(&answer_io, &answer_hub, &answer_user, &question, id).await;
            drop(work);
        }
    });
    // Like the group chat's handler, it does its work before returning, so
    // messages are queued in the order they arrived.
    socket.on(
        BOTMASTER_MESSAGE,
        move |socket: SocketRef, TryData(data): TryData<Value>, ack: AckSender| -> Ready<()> {
            let verdict = text_of(data.ok()).and_then(|said| {
                if drain.is_draining() {
                    return Err(Refusal::Draining);
                }
                dialects.heard(&speaker, &said.raw);
                limits
                    .check(Action::Message, &client)
                    .map_err(Refusal::RateLimited)?;
                limits
                    .store(&client, said.text.as_str().len())
                    .map_err(Refusal::StoreQuota)?;
                Ok(said)
            });
            match verdict {
                Ok(said) => {
                    // The worker only stops when this handler is dropped with the socket.
                    let _ = queue.send((said, ack, drain.work()));
                }
                // Botmaster's client asks for no ack; then only the event is sent.
                Err(refusal) => refuse(&socket, &refusal, ack, &metrics),
            }
            ready(())
        },
    );
}

/// What a user said in Botmaster mode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Said {
    /// The payload exactly as it was sent, for Botmaster's `own message`.
    raw: Value,
    /// As the user's tabs show it.
    text: MessageBody,
    /// What the bot is asked: the text, or the payload of a clicked quick reply.
    for_bot: MessageBody,
    /// The sender's id for it, when the client gave one.
    client_id: Option<ClientMessageId>,
}

/// Numbers streamed answers, so clients can tell them apart. Each node
/// starts at its own random multiple of 2^32 (under 2^52, so JavaScript
/// reads it exactly), so streams of two nodes do not collide.
static NEXT_STREAM: LazyLock<AtomicU64> = LazyLock::new(|| {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    let node = u64::from(u32::from_le_bytes(bytes) & 0xF_FFFF);
    AtomicU64::new((node << 32) + 1)
});

/// What a Botmaster client may send: an object, or the JSON string of one.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Incoming {
    /// `{text, quick_reply?, client_id?}`: the tutorial's page, Botmaster 2's
    /// client, and ours.
    Flat(BotmasterInput),
    /// `{message: {text, quick_reply?}, client_id?}`: Botmaster 3's client,
    /// in Messenger's shape.
    Wrapped {
        message: WrappedInput,
        #[serde(default)]
        client_id: Option<String>,
    },
}

/// The `message` of [`Incoming::Wrapped`].
#[derive(Debug, Deserialize)]
struct WrappedInput {
    text: String,
    #[serde(default)]
    quick_reply: Option<QuickReplyChoice>,
}

impl From<Incoming> for BotmasterInput {
    fn from(incoming: Incoming) -> Self {
        match incoming {
            Incoming::Flat(input) => input,
            Incoming::Wrapped { message, client_id } => Self {
                text: message.text,
                quick_reply: message.quick_reply,
                client_id,
            },
        }
    }
}

/// Reads a Botmaster message in any of its shapes (see [`Incoming`]), with
/// `quick_reply.payload` when the user clicked a quick reply.
fn text_of(data: Option<Value>) -> Result<Said, Refusal> {
    let raw = data.ok_or(Refusal::MalformedBotmaster)?;
    let incoming: Incoming = match &raw {
        Value::String(json) => serde_json::from_str(json),
        object @ Value::Object(_) => Incoming::deserialize(object),
        _ => return Err(Refusal::MalformedBotmaster),
    }
    .map_err(|_| Refusal::MalformedBotmaster)?;
    let input = BotmasterInput::from(incoming);
    let text = MessageBody::parse(&input.text)?;
    let for_bot = match input.quick_reply {
        Some(choice) => MessageBody::parse(&choice.payload)?,
        None => text.clone(),
    };
    let client_id = input
        .client_id
        .as_deref()
        .map(ClientMessageId::parse)
        .transpose()?;
    Ok(Said {
        raw,
        text,
        for_bot,
        client_id,
    })
}

/// Sends a tab that connected the latest lines of the conversation. Called
/// once the client has heard it is connected: sent from the connect
/// middleware, they could go out before CONNECT and be dropped.
pub(super) async fn send_history(socket: SocketRef, hub: Hub, user: UserId) {
    let lines = hub.store.before(&private_key(&user), None, RECENT).await;
    let Ok(mut lines) = lines else {
        tracing::error!("cannot read a private conversation");
        return;
    };
    keep_latest_page(&mut lines);
    let entries: Vec<BotHistoryEntry> = lines.iter().map(private_feed::entry).collect();
    if let Err(error) = socket.emit(BOT_HISTORY, &encode(&entries, hub.dialects.of(&user))) {
        tracing::debug!(%error, "cannot send a private conversation");
    }
}

/// What the bot's lines answer: the line with id `asks`, completing the
/// answer streamed as `stream`, if any.
#[derive(Debug, Clone, Copy)]
struct Answered {
    stream: Option<u64>,
    asks: u64,
}

/// Stores lines of `user`'s conversation, by the user or by the bot (then
/// `answered` says what they answer).
async fn store_lines(
    store: &Arc<dyn Store>,
    user: &UserId,
    lines: Vec<(bool, BotmasterMessage, Option<ClientMessageId>)>,
    answered: Option<Answered>,
) -> Result<Vec<Appended>, StoreError> {
    let sent_at = now().0;
    let drafts = lines
        .into_iter()
        .enumerate()
        .map(|(n, (from_bot, message, client_id))| Draft {
            room: private_key(user),
            author: if from_bot {
                shared::BOT_NAME.to_owned()
            } else {
                user.as_str().to_owned()
            },
            body: message.text.clone(),
            extra: from_bot.then(|| bot_extra(&message, answered, n == 0)),
            client_id: client_id.map(|id| id.as_str().to_owned()),
            sent_at,
            in_answer_to: None,
        })
        .collect();
    store.append(drafts).await
}

/// What a bot line keeps besides its text: the whole message (quick replies,
/// attachments), the line it answers, and (the `first` line) the stream it
/// completes.
fn bot_extra(message: &BotmasterMessage, answered: Option<Answered>, first: bool) -> String {
    let mut extra = serde_json::to_value(message).unwrap_or_default();
    if let (Some(answered), Some(fields)) = (answered, extra.as_object_mut()) {
        fields.insert(ANSWERS.to_owned(), json!(answered.asks));
        if let Some(stream) = answered.stream.filter(|_| first) {
            fields.insert(STREAM_ID.to_owned(), json!(stream));
        }
    }
    extra.to_string()
}

/// Tells `to` (a room) that what was said could not be saved.
async fn report_unsaved(io: &SocketIo, to: String, error: &StoreError) {
    tracing::error!(%error, "cannot store a private conversation");
    let refusal = ChatError::from(&Refusal::Unavailable);
    let _ = io.to(to).emit(CHAT_ERROR, &refusal).await;
}

/// Tells socket `sender` that what it said was not stored, and why.
async fn refuse_unsent(io: &SocketIo, hub: &Hub, sender: Sid, refusal: &Refusal, ack: AckSender) {
    hub.metrics.refused(refusal.reason());
    let error = ChatError::from(refusal);
    let _ = ack.send(&SendOutcome::Rejected(error.clone()));
    let _ = io.to(sender.to_string()).emit(CHAT_ERROR, &error).await;
}

/// Stores what the user said, acks it and shows it in the user's other
/// tabs; returns what to ask the bot and the line's id, unless it was a
/// resend (asked before) or could not be stored.
async fn record(
    io: &SocketIo,
    hub: &Hub,
    user: &UserId,
    sender: Sid,
    said: Said,
    ack: AckSender,
    unsaved: &mut Unsaved,
) -> Option<(MessageBody, u64)> {
    let spoken = BotmasterMessage {
        text: said.text.as_str().to_owned(),
        ..BotmasterMessage::default()
    };
    // Known before the line is stored, so however it reaches the stage
    // that sends it out, the tab that said it is left out.
    let room = private_key(user);
    let here = Origin {
        sender,
        raw: said.raw,
    };
    let origin = match &said.client_id {
        Some(client_id) => {
            hub.saying.insert(&room, client_id.as_str(), here);
            None
        }
        None => Some(here),
    };
    let forget = || {
        if let Some(client_id) = &said.client_id {
            hub.saying.take(&room, client_id.as_str());
        }
    };
    let line = vec![(false, spoken, said.client_id.clone())];
    let stored = match store_lines(&hub.store, user, line, None).await {
        Ok(stored) => stored,
        Err(error) => {
            forget();
            tracing::error!(%error, "cannot store a private conversation");
            let failed = said.client_id.iter().map(ClientMessageId::as_str);
            unsaved.failed(failed, std::time::Instant::now());
            refuse_unsent(io, hub, sender, &Refusal::Unavailable, ack).await;
            return None;
        }
    };
    let appended = stored.into_iter().next()?;
    // One line, answering nothing, is never skipped.
    let id = MessageId(appended.stored()?.id);
    let _ = ack.send(&SendOutcome::Accepted { id });
    let Appended::New(stored) = appended else {
        // Said before (a resend): already sent out and asked.
        forget();
        return None;
    };
    hub.metrics.accepted();
    // The user's other tabs show it, on every node; the sending tab already does.
    let _ = hub.handoffs.send(Handoff::Said { stored, origin });
    Some((said.for_bot, id.0))
}

/// The private conversations whose latest line is the user's: a message
/// stored and acknowledged, but never answered, because the server stopped
/// before the bot's answer was stored, or the answer could not be stored.
/// Read before the server takes connections, so nothing asked from now on
/// is among them.
pub(super) async fn left_unanswered(store: &dyn Store) -> Vec<Stored> {
    match store.unanswered(PRIVATE, shared::BOT_NAME).await {
        Ok(left) => left,
        Err(error) => {
            tracing::error!(%error, "cannot look for unanswered private messages");
            Vec::new()
        }
    }
}

/// Whose question `stored` is, and what it asks, for a line of a private
/// conversation.
fn question(stored: &Stored) -> Option<(UserId, MessageBody)> {
    let id = stored.draft.room.strip_prefix(PRIVATE)?;
    let user = UserId::parse(id).ok()?;
    Some((user, MessageBody::from_store(stored.draft.body.clone())))
}

/// Answers `left` (see [`left_unanswered`]), one conversation after
/// another, like any question: stored, then sent to the user's tabs that
/// are open; the others find the answer in their history.
pub(super) async fn answer_left_over(io: SocketIo, hub: Hub, left: Vec<Stored>) {
    if left.is_empty() {
        return;
    }
    tracing::info!(
        conversations = left.len(),
        "answering private messages left unanswered"
    );
    for stored in left {
        if let Some((user, asked)) = question(&stored) {
            answer(&io, &hub, &user, &asked, stored.id).await;
        }
    }
}

/// What the bot calls `user`: their session's name, or their id before they chose one.
async fn display_name(hub: &Hub, user: &UserId) -> String {
    if let Some(name) = hub.people.name(user) {
        return name.as_str().to_owned();
    }
    let name = hub.store.name(user.as_str()).await;
    name.ok()
        .flatten()
        .unwrap_or_else(|| user.as_str().to_owned())
}

/// Asks the bot, streams its answer to the user's tabs, stores it and sends it.
async fn answer(io: &SocketIo, hub: &Hub, user: &UserId, question: &MessageBody, asks: u64) {
    let stream = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
    let mut streamed = false;
    let conversation = private_key(user);
    // The bot greets people by their display name, not their random id.
    let name = display_name(hub, user).await;
    let speaker = Speaker::new(&conversation, &name);
    let asked = std::time::Instant::now();
    let replies = crate::bot::ask_streaming(
        hub.bot.as_ref(),
        hub.bot_timeout,
        speaker,
        question.as_str(),
        |delta| {
            streamed = true;
            let (io, room, shape) = (io.clone(), private_key(user), hub.dialects.of(user));
            let relay = hub.relay.clone();
            async move {
                let piece = encode(&BotStreamDelta { id: stream, delta }, shape);
                relay.to_others(&room, BOT_STREAM, &piece);
                if let Err(error) = io.to(room).emit(BOT_STREAM, &piece).await {
                    tracing::debug!(%error, "Botmaster stream piece incomplete");
                }
            }
        },
    )
    .await;
    hub.metrics
        .bot_answered(asked.elapsed(), crate::bot::failed(&replies));
    let messages: Vec<BotmasterMessage> = replies.iter().map(BotReply::to_botmaster).collect();
    if messages.is_empty() {
        // Nothing to say is an answer too.
        if let Err(error) = hub.store.settle(&private_key(user), asks).await {
            tracing::warn!(%error, "cannot settle a question the bot left alone");
        }
        return;
    }
    let lines = messages.iter().map(|m| (true, m.clone(), None)).collect();
    let answered = Answered {
        stream: streamed.then_some(stream),
        asks,
    };
    let stored = store_lines(&hub.store, user, lines, Some(answered)).await;
    if let Err(error) = stored {
        if streamed {
            // End the growing line, which would otherwise wait forever.
            let notice = BotmasterUpdate {
                recipient: Recipient {
                    id: user.as_str().to_owned(),
                },
                message: BotReply::text(crate::bot::UNAVAILABLE).to_botmaster(),
                stream_id: Some(stream),
                id: None,
                client_id: None,
                timestamp: None,
            };
            let notice = encode(&notice, hub.dialects.of(user));
            hub.relay
                .to_others(&private_key(user), BOTMASTER_MESSAGE, &notice);
            let _ = io
                .to(private_key(user))
                .emit(BOTMASTER_MESSAGE, &notice)
                .await;
        }
        return report_unsaved(io, private_key(user), &error).await;
    }
    let rows = stored.map(|s| s.iter().filter_map(Appended::stored).cloned().collect());
    let _ = hub
        .handoffs
        .send(Handoff::Answered(rows.unwrap_or_default()));
}

#[cfg(test)]
mod tests {
    use shared::ErrorCode;

    use super::*;

    /// The code a client is told for a refused message.
    fn code(said: Result<Said, Refusal>) -> ErrorCode {
        ChatError::from(&said.unwrap_err()).code
    }

    #[test]
    fn botmasters_json_string_and_plain_objects_are_read() {
        let said = text_of(Some(json!("{\"text\":\"Hey there botmaster!\"}"))).unwrap();
        assert_eq!(said.text.as_str(), "Hey there botmaster!");
        assert_eq!(said.for_bot, said.text);
        assert_eq!(
            text_of(Some(json!({"text": " hi "})))
                .unwrap()
                .text
                .as_str(),
            "hi"
        );
    }

    #[test]
    fn a_quick_reply_asks_with_its_payload() {
        let said = text_of(Some(
            json!({"text": "Yes", "quick_reply": {"payload": "/affirm"}}),
        ))
        .unwrap();
        assert_eq!(said.text.as_str(), "Yes");
        assert_eq!(said.for_bot.as_str(), "/affirm");
        assert_eq!(
            code(text_of(Some(
                json!({"text": "Yes", "quick_reply": {"payload": " "}})
            ))),
            ErrorCode::Invalid
        );
    }

    #[test]
    fn anything_else_is_a_clear_error() {
        for data in [
            None,
            Some(json!(1)),
            Some(json!("not json")),
            Some(json!({"txt": "x"})),
            Some(json!("{\"text\":5}")),
        ] {
            assert_eq!(
                code(text_of(data.clone())),
                ErrorCode::Malformed,
                "{data:?}"
            );
        }
        assert_eq!(
            code(text_of(Some(json!({"text": "  "})))),
            ErrorCode::Invalid
        );
    }
}
