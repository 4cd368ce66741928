use leptos::either::Either;
use leptos::prelude::*;
use shared::links::{Piece, pieces};

use crate::chat::{Chat, Entry};
use crate::time;

/// Colours a sender's tag may take (`.tag-0` to `.tag-7` in the style sheet).
const TAG_COLOURS: u32 = 8;

/// The short tag that tells apart two people of one name: the start of
/// their user id, and a colour from all of it.
pub fn tag(user_id: &str) -> (String, String) {
    let short: String = user_id.chars().take(4).collect();
    let hash = user_id.bytes().fold(0u32, |hash, b| {
        hash.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    (
        format!("#{short}"),
        format!("tag tag-{}", hash % TAG_COLOURS),
    )
}

/// One message: who, when, what, after a day separator when it is the
/// first of its day. The body is inserted as text, never as HTML, so
/// `<img onerror=…>` shows as typed; only web addresses become links, which
/// open in a new tab and tell the other site nothing of this page.
#[component]
pub fn MessageItem(
    /// The message to show.
    entry: Entry,
    /// The day's name when this is the first message of a day.
    day: Option<String>,
    /// Whether it follows a message of the same sender shortly before, so
    /// the name is not repeated.
    continued: bool,
) -> impl IntoView {
    let message = entry.message;
    let full_time = time::full(message.sent_at);
    let mine = expect_context::<Chat>().is_mine(&message);
    let tag = message.user_id.as_deref().map(|id| {
        let (text, class) = tag(id);
        view! { <span class=class data-testid="user-tag" title="Who this is, whatever the name">{text}</span> }
    });
    let mut class = String::from("message");
    for (applies, name) in [
        (entry.from_bot, " bot-message"),
        (mine, " mine"),
        (continued, " continued"),
    ] {
        if applies {
            class.push_str(name);
        }
    }
    let body: Vec<_> = pieces(message.body.as_str())
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => Either::Left(text.to_owned()),
            Piece::Link(address) => Either::Right(view! {
                <a href=address.to_owned() target="_blank" rel="noopener noreferrer">{address.to_owned()}</a>
            }),
        })
        .collect();
    view! {
        {day.map(|day| view! {
            <li class="day-separator" data-testid="day-separator">
                <span>{day}</span>
            </li>
        })}
        <li class=class data-testid="message" data-id=message.id.0>
            <strong class="author" dir="auto">{message.user.as_str().to_owned()}</strong>
            {tag}
            <time class="sent-at" datetime=full_time.clone() title=full_time>
                {time::clock(message.sent_at)}
            </time>
            <span class="body" dir="auto">{body}</span>
        </li>
    }
}
