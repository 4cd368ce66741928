use leptos::prelude::*;

use crate::chat::Entry;
use crate::time;

/// One message: who, when, what. The body is inserted as text, never as
/// HTML, so `<img onerror=…>` shows as typed.
#[component]
pub fn MessageItem(
    /// The message to show.
    entry: Entry,
) -> impl IntoView {
    let message = entry.message;
    let full_time = time::full(message.sent_at);
    let class = if entry.from_bot {
        "message bot-message"
    } else {
        "message"
    };
    view! {
        <li class=class data-testid="message" data-id=message.id.0>
            <strong class="author" dir="auto">{message.user.as_str().to_owned()}</strong>
            <time class="sent-at" datetime=full_time.clone() title=full_time>
                {time::clock(message.sent_at)}
            </time>
            <span class="body" dir="auto">{message.body.as_str().to_owned()}</span>
        </li>
    }
}
