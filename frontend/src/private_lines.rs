//! The private conversation with the bot (Botmaster mode) as the page
//! keeps it: lines from the user and the bot, streamed answers that grow in
//! place, quick replies and images.

use std::sync::atomic::{AtomicUsize, Ordering};

use reactive_stores::Store;
use serde_json::Value;

use crate::outbox::PendingPrivate;
use shared::{BotHistoryEntry, BotStreamDelta, BotmasterMessage, BotmasterUpdate, QuickReply};

/// The lines of the private conversation, in a store keyed by
/// [`PrivateLine::key`]: a line that changes (a streamed answer growing)
/// redraws its own fields and nothing else.
#[derive(Debug, Default, Store)]
pub struct PrivateLines {
    /// The conversation, oldest first.
    #[store(key: usize = |line| line.key)]
    pub lines: Vec<PrivateLine>,
}

/// What a change to the lines touched, so that the page redraws no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing changed.
    Nothing,
    /// The fields of the line with this key changed.
    Line(usize),
    /// Lines came, went or moved.
    List,
}

/// One line of the private conversation with the bot (Botmaster mode).
#[derive(Debug, Clone, PartialEq, Default, Store)]
pub struct PrivateLine {
    /// Never the same for two lines of this page, even across reloads of
    /// the history, so the list never mistakes one line for another.
    pub key: usize,
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
    /// The page's id for a line of the user's that the server has not
    /// acknowledged yet (shown as sending).
    pub sending: Option<String>,
    /// The line's id in the stored conversation, once known.
    pub id: Option<u64>,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub sent_at: Option<u64>,
}

impl PrivateLine {
    /// A stored line, as the server replays it to a tab that connects.
    fn from_history(key: usize, entry: BotHistoryEntry) -> Self {
        let mut line = finished_line(entry.message);
        line.key = key;
        line.from_bot = entry.from_bot;
        line.id = Some(entry.id);
        line.sent_at = entry.timestamp;
        line
    }
}

fn has_id(lines: &[PrivateLine], id: Option<u64>) -> bool {
    id.is_some() && lines.iter().any(|l| l.id == id)
}

/// A key no line of this page has had.
fn next_key() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Replaces the lines with the stored conversation, keeping lines that
/// arrived live after it was read (and answers still streaming), followed
/// by what is still waiting to be sent. Returns the client ids of waiting
/// lines that turn out to be stored already (their ack was lost): done.
pub fn replace_with_history(
    lines: &mut Vec<PrivateLine>,
    history: Vec<BotHistoryEntry>,
    waiting: Vec<PendingPrivate>,
) -> Vec<String> {
    let stored: Vec<String> = history
        .iter()
        .filter_map(|entry| entry.client_id.clone())
        .collect();
    let newest = history.iter().map(|entry| entry.id).max().unwrap_or(0);
    let live: Vec<PrivateLine> = lines
        .drain(..)
        .filter(|l| {
            l.sending.is_none() && (l.streaming.is_some() || l.id.is_some_and(|id| id > newest))
        })
        .collect();
    *lines = history
        .into_iter()
        .map(|entry| PrivateLine::from_history(next_key(), entry))
        .chain(live)
        .collect();
    let mut done = Vec::new();
    for PendingPrivate(input) in waiting {
        let id = input.client_id.clone().unwrap_or_default();
        if stored.contains(&id) {
            done.push(id);
        } else {
            push_sending_line(lines, input.text, id);
        }
    }
    done
}

/// Adds a line of the user's that is on its way to the server.
pub fn push_sending_line(lines: &mut Vec<PrivateLine>, text: String, client_id: String) -> Change {
    let key = next_key();
    lines.push(PrivateLine {
        key,
        text,
        sending: Some(client_id),
        ..PrivateLine::default()
    });
    Change::List
}

/// Takes away the user's line with `client_id`: the server refused it for good.
pub fn remove_sending(lines: &mut Vec<PrivateLine>, client_id: &str) -> Change {
    let before = lines.len();
    lines.retain(|l| l.sending.as_deref() != Some(client_id));
    if lines.len() == before {
        Change::Nothing
    } else {
        Change::List
    }
}

/// Marks the user's line with `client_id` as stored by the server under
/// `id`, at `at` (milliseconds since the Unix epoch) or about now.
pub fn mark_sent(lines: &mut [PrivateLine], client_id: &str, id: u64, at: u64) -> Change {
    let Some(line) = lines
        .iter_mut()
        .find(|l| l.sending.as_deref() == Some(client_id))
    else {
        return Change::Nothing;
    };
    line.sending = None;
    line.id = Some(id);
    line.sent_at = Some(at);
    Change::Line(line.key)
}

/// Adds what the user said in another tab (the server's echo), unless this
/// page has it: as its own waiting line (then it is sent now), or already.
pub fn push_echo(lines: &mut Vec<PrivateLine>, update: BotmasterUpdate) -> Change {
    if let (Some(client_id), Some(id)) = (&update.client_id, update.id)
        && lines
            .iter()
            .any(|l| l.sending.as_deref() == Some(client_id.as_str()))
    {
        let at = update.timestamp.unwrap_or_default();
        return mark_sent(lines, client_id, id, at);
    }
    if has_id(lines, update.id) {
        return Change::Nothing;
    }
    let key = next_key();
    lines.push(PrivateLine {
        key,
        text: update.message.text,
        id: update.id,
        sent_at: update.timestamp,
        ..PrivateLine::default()
    });
    Change::List
}

/// Appends a streamed piece to its line, starting the line with the first piece.
pub fn grow_bot_line(lines: &mut Vec<PrivateLine>, piece: BotStreamDelta) -> Change {
    if let Some(line) = lines.iter_mut().find(|l| l.streaming == Some(piece.id)) {
        line.text.push_str(&piece.delta);
        Change::Line(line.key)
    } else {
        let key = next_key();
        lines.push(PrivateLine {
            key,
            from_bot: true,
            text: piece.delta,
            streaming: Some(piece.id),
            ..PrivateLine::default()
        });
        Change::List
    }
}

/// Adds a finished bot message; one that completes a stream replaces the
/// streamed text in place, so the answer stays one message.
pub fn complete_bot_line(lines: &mut Vec<PrivateLine>, update: BotmasterUpdate) -> Change {
    let BotmasterUpdate {
        message,
        stream_id,
        id,
        timestamp,
        ..
    } = update;
    if has_id(lines, id) {
        return Change::Nothing;
    }
    let mut line = finished_line(message);
    line.id = id;
    line.sent_at = timestamp;
    let streamed = stream_id.and_then(|id| lines.iter_mut().find(|l| l.streaming == Some(id)));
    match streamed {
        Some(old) => {
            line.key = old.key;
            *old = line;
            Change::Line(old.key)
        }
        None => {
            line.key = next_key();
            lines.push(line);
            Change::List
        }
    }
}

/// A finished bot line from a Botmaster message, its key still to be set.
fn finished_line(message: BotmasterMessage) -> PrivateLine {
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
    PrivateLine {
        from_bot: true,
        text,
        image,
        quick_replies: message.quick_replies,
        ..PrivateLine::default()
    }
}

/// A Botmaster event: a [`BotmasterUpdate`], as an object or as its JSON
/// string (the echo of the user's own words has the same shape, with a
/// sender instead).
pub fn botmaster_update(arg: &Value) -> Option<BotmasterUpdate> {
    let mut parsed: Value = match arg {
        Value::String(json) => serde_json::from_str(json).ok()?,
        object => object.clone(),
    };
    if let Some(object) = parsed.as_object_mut()
        && !object.contains_key("recipient")
    {
        let sender = object.remove("sender")?;
        object.insert("recipient".to_owned(), sender);
    }
    serde_json::from_value(parsed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{BotmasterInput, Recipient};

    fn stored(id: u64, from_bot: bool, text: &str, client_id: Option<&str>) -> BotHistoryEntry {
        BotHistoryEntry {
            id,
            from_bot,
            message: BotmasterMessage {
                text: text.to_owned(),
                ..BotmasterMessage::default()
            },
            client_id: client_id.map(str::to_owned),
            timestamp: Some(1_000 + id),
        }
    }

    fn update(id: Option<u64>, text: &str, stream_id: Option<u64>) -> BotmasterUpdate {
        BotmasterUpdate {
            recipient: Recipient { id: "me".into() },
            message: BotmasterMessage {
                text: text.to_owned(),
                ..BotmasterMessage::default()
            },
            stream_id,
            id,
            client_id: None,
            timestamp: Some(5_000),
        }
    }

    fn waiting(text: &str, client_id: &str) -> PendingPrivate {
        PendingPrivate(BotmasterInput {
            text: text.to_owned(),
            quick_reply: None,
            client_id: Some(client_id.to_owned()),
        })
    }

    fn texts(lines: &[PrivateLine]) -> Vec<(&str, bool, bool)> {
        lines
            .iter()
            .map(|l| (l.text.as_str(), l.from_bot, l.sending.is_some()))
            .collect()
    }

    #[test]
    fn history_replaces_the_lines_keeps_newer_live_ones_and_the_outbox_follows() {
        let mut lines = Vec::new();
        // Live before the history arrived: a bot line newer than the history, and an old one.
        complete_bot_line(&mut lines, update(Some(9), "newer", None));
        complete_bot_line(&mut lines, update(Some(2), "old", None));
        let history = vec![
            stored(1, false, "hi", Some("c1")),
            stored(2, true, "hello", None),
        ];
        // c1 is stored already (its ack was lost); c2 still waits.
        let done = replace_with_history(
            &mut lines,
            history,
            vec![waiting("hi", "c1"), waiting("still waiting", "c2")],
        );
        assert_eq!(done, ["c1"]);
        assert_eq!(
            texts(&lines),
            [
                ("hi", false, false),
                ("hello", true, false),
                ("newer", true, false),
                ("still waiting", false, true),
            ]
        );
        assert_eq!(
            lines[0].sent_at,
            Some(1_001),
            "stored lines keep their time"
        );
    }

    #[test]
    fn a_streamed_answer_grows_in_place_and_its_message_completes_it() {
        let mut lines = Vec::new();
        grow_bot_line(
            &mut lines,
            BotStreamDelta {
                id: 7,
                delta: "Hel".into(),
            },
        );
        let key = lines[0].key;
        let grown = grow_bot_line(
            &mut lines,
            BotStreamDelta {
                id: 7,
                delta: "lo".into(),
            },
        );
        assert_eq!(grown, Change::Line(key), "only the growing line redraws");
        assert_eq!(texts(&lines), [("Hello", true, false)]);
        let completed = complete_bot_line(&mut lines, update(Some(3), "Hello!", Some(7)));
        assert_eq!(completed, Change::Line(key), "the same line, redrawn");
        assert_eq!(texts(&lines), [("Hello!", true, false)]);
        assert_eq!((lines[0].streaming, lines[0].id), (None, Some(3)));
        let again = complete_bot_line(&mut lines, update(Some(3), "Hello!", None));
        assert_eq!(again, Change::Nothing);
        assert_eq!(lines.len(), 1, "a line already held is not added again");
    }

    #[test]
    fn my_line_is_sending_until_acknowledged_and_an_echo_does_not_double_it() {
        let mut lines = Vec::new();
        assert_eq!(
            push_sending_line(&mut lines, "question".into(), "c9".into()),
            Change::List
        );
        let echo = BotmasterUpdate {
            client_id: Some("c9".into()),
            ..update(Some(4), "question", None)
        };
        assert_eq!(
            push_echo(&mut lines, echo.clone()),
            Change::Line(lines[0].key)
        );
        assert_eq!(texts(&lines), [("question", false, false)]);
        assert_eq!((lines[0].id, lines[0].sent_at), (Some(4), Some(5_000)));
        assert_eq!(push_echo(&mut lines, echo), Change::Nothing);
        assert_eq!(lines.len(), 1);
        push_sending_line(&mut lines, "refused".into(), "c10".into());
        assert_eq!(remove_sending(&mut lines, "c10"), Change::List);
        assert_eq!(remove_sending(&mut lines, "c10"), Change::Nothing);
        assert_eq!(lines.len(), 1);
    }
}
