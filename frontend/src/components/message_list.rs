use leptos::html::Ol;
use leptos::prelude::*;

use super::MessageItem;
use shared::MessageId;

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

/// How close to the bottom (in pixels) counts as reading the newest message.
const BOTTOM_SLACK_PX: i32 = 40;

/// The page's title, before the unread count.
const TITLE: &str = "Chat with ChatFriend";

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
    // Whether the reader is at the newest message; reading further back,
    // new messages do not move the view.
    let at_bottom = RwSignal::new(true);
    // The newest message the reader has had in view with the page visible.
    let read_up_to = RwSignal::new(None::<MessageId>);
    let unread = Memo::new(move |_| {
        let read = read_up_to.get();
        chat.entries.with(|l| {
            l.iter()
                .rev()
                .take_while(|e| Some(e.message.id) > read)
                .count()
        })
    });
    let mark_read = move || {
        if at_bottom.get_untracked() && !document().hidden() {
            read_up_to.set(newest.get_untracked());
        }
    };
    let to_bottom = move |list: &web_sys::HtmlOListElement| {
        list.set_scroll_top(list.scroll_height());
        at_bottom.set(true);
        mark_read();
        // Once the layout has settled (the jump button gone, say), again.
        let list = list.clone();
        request_animation_frame(move || list.set_scroll_top(list.scroll_height()));
    };
    // Tracking the node too: the first runs come before the list is mounted.
    Effect::new(move |_| {
        newest.track();
        if let Some(list) = list.get()
            && at_bottom.get_untracked()
        {
            to_bottom(&list);
        }
    });
    // What the reader sends takes them to the newest message.
    Effect::new(move |_| {
        chat.outbox.with(Vec::len);
        if let Some(list) = list.get() {
            to_bottom(&list);
        }
    });
    // The tab's title counts what the reader has not seen.
    Effect::new(move |_| {
        let title = match unread.get() {
            0 => TITLE.to_owned(),
            n => format!("({n}) {TITLE}"),
        };
        document().set_title(&title);
    });
    let visible = window_event_listener(leptos::ev::visibilitychange, move |_| mark_read());
    on_cleanup(move || visible.remove());
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
            let Some(list) = list.get_untracked() else {
                return;
            };
            let from_bottom = list.scroll_height() - list.scroll_top() - list.client_height();
            at_bottom.set(from_bottom < BOTTOM_SLACK_PX);
            mark_read();
            if list.scroll_top() < OLDER_THRESHOLD_PX && chat.more_before.get_untracked() {
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
            aria-label="Messages"
            // Scrollable, so reachable with the keyboard.
            tabindex="0"
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
        <Show when=move || { unread.get() > 0 && !at_bottom.get() }>
            <button
                type="button"
                class="new-messages"
                data-testid="new-messages"
                on:click=move |_| {
                    if let Some(list) = list.get_untracked() {
                        to_bottom(&list);
                    }
                }
            >
                {move || match unread.get() {
                    1 => "1 new message ↓".to_owned(),
                    n => format!("{n} new messages ↓"),
                }}
            </button>
        </Show>
    }
}
