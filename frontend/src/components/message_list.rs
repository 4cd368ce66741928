use leptos::html::Ol;
use leptos::prelude::*;

use super::MessageItem;
use crate::chat::{Chat, Entry};
use crate::time;

/// Messages of one sender closer together than this read as one group.
const GROUP_WITHIN_MS: u64 = 5 * 60 * 1000;

/// A message as the list shows it.
#[derive(Debug, Clone)]
struct Row {
    entry: Entry,
    /// The day's name, for the first message of each day.
    day: Option<String>,
    /// Same sender as the message before, on the same day, shortly after.
    continued: bool,
}

/// The rows of `entries` (oldest first): a day separator before the first
/// message of each day, and runs of one sender grouped.
fn rows(entries: &[Entry]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::with_capacity(entries.len());
    let mut previous: Option<&Entry> = None;
    for entry in entries {
        let at = entry.message.sent_at;
        let new_day = previous.is_none_or(|p| time::day(p.message.sent_at) != time::day(at));
        let continued = !new_day
            && previous.is_some_and(|p| {
                p.message.user == entry.message.user
                    && p.from_bot == entry.from_bot
                    && at.0.saturating_sub(p.message.sent_at.0) < GROUP_WITHIN_MS
            });
        rows.push(Row {
            entry: entry.clone(),
            day: new_day.then(|| time::day_label(at)),
            continued,
        });
        previous = Some(entry);
    }
    rows
}

/// How close to the top (in pixels) scrolling has to come to fetch older messages.
const OLDER_THRESHOLD_PX: i32 = 40;

/// The conversation, oldest first, then what is still being sent. Follows
/// the newest message; scrolling to the top fetches older ones, keeping
/// the view where it was.
#[component]
pub fn MessageList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let list = NodeRef::<Ol>::new();
    let newest = Memo::new(move |_| chat.entries.with(|l| l.last().map(|e| e.message.id)));
    let oldest = Memo::new(move |_| chat.entries.with(|l| l.first().map(|e| e.message.id)));
    // Distance from the bottom when older messages were asked for.
    let anchor = StoredValue::new(None::<i32>);
    // Tracking the node too: the first runs come before the list is mounted.
    Effect::new(move |_| {
        let _ = (newest.get(), chat.outbox.with(Vec::len));
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    Effect::new(move |_| {
        oldest.track();
        if let (Some(list), Some(from_bottom)) = (list.get(), anchor.get_value()) {
            anchor.set_value(None);
            // After the browser has laid out the new rows, or the height is the old one.
            request_animation_frame(move || {
                list.set_scroll_top(list.scroll_height() - from_bottom)
            });
        }
    });
    let fetch_older = {
        let chat = chat.clone();
        move || {
            if let Some(list) = list.get_untracked() {
                anchor.set_value(Some(list.scroll_height() - list.scroll_top()));
            }
            chat.load_older();
        }
    };
    let on_scroll = {
        let fetch_older = fetch_older.clone();
        move |_| {
            let near_top = list
                .get_untracked()
                .is_some_and(|list| list.scroll_top() < OLDER_THRESHOLD_PX);
            if near_top && chat.more_before.get_untracked() {
                fetch_older();
            }
        }
    };
    view! {
        <ol
            class="messages"
            data-testid="messages"
            node_ref=list
            aria-live="polite"
            on:scroll=on_scroll
        >
            <Show when=move || chat.more_before.get()>
                <li class="older">
                    <button
                        type="button"
                        data-testid="load-older"
                        on:click={
                            let fetch_older = fetch_older.clone();
                            move |_| fetch_older()
                        }
                    >
                        "Show older messages"
                    </button>
                </li>
            </Show>
            <Show when=move || {
                chat.entries.with(Vec::is_empty) && chat.outbox.with(Vec::is_empty)
                    && !chat.more_before.get()
            }>
                <li class="empty" data-testid="empty-state">
                    "No messages yet. Enter your name and a message below to start the conversation; "
                    "ChatFriend, the bot, answers everyone."
                </li>
            </Show>
            <For
                each=move || chat.entries.with(|entries| rows(entries))
                // A row is drawn again when what goes before it changes its look.
                key=|row| (row.entry.message.id, row.day.clone(), row.continued)
                children=|row| {
                    view! { <MessageItem entry=row.entry day=row.day continued=row.continued /> }
                }
            />
            <For
                each=move || chat.outbox.get()
                key=|pending| pending.client_id.clone()
                children=|pending| {
                    view! {
                        <li class="message pending mine" data-testid="pending-message" data-state="sending">
                            <strong class="author">{pending.user}</strong>
                            <span class="sent-at">"sending…"</span>
                            <span class="body">{pending.body}</span>
                        </li>
                    }
                }
            />
        </ol>
    }
}
