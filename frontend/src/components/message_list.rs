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

/// How close to the bottom (in pixels) counts as reading the newest message.
const BOTTOM_SLACK_PX: i32 = 40;

/// The room on screen, oldest first, then what is still being sent to it.
/// Follows the newest message; scrolling to the top fetches older ones,
/// keeping the view where it was.
#[component]
pub fn MessageList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let list = NodeRef::<Ol>::new();
    let current = chat.current;
    let room = move |f: &dyn Fn(&crate::rooms::Room) -> Option<shared::MessageId>| {
        chat.rooms
            .with(|rooms| rooms.get(&current.get()).and_then(f))
    };
    let newest = Memo::new(move |_| room(&|r| r.entries.last().map(|e| e.message.id)));
    let oldest = Memo::new(move |_| room(&|r| r.entries.first().map(|e| e.message.id)));
    let more_before = Memo::new(move |_| {
        chat.rooms
            .with(|rooms| rooms.get(&current.get()).is_some_and(|r| r.more_before))
    });
    let entries = move || {
        chat.rooms.with(|rooms| {
            rooms
                .get(&current.get())
                .map(|r| r.entries.clone())
                .unwrap_or_default()
        })
    };
    // Distance from the bottom when older messages were asked for.
    let anchor = StoredValue::new(None::<i32>);
    // Whether the reader is at the newest message; reading further back,
    // new messages do not move the view.
    let at_bottom = RwSignal::new(true);
    let unread = {
        let chat = chat.clone();
        Memo::new(move |_| {
            chat.rooms.with(|rooms| {
                rooms
                    .get(&current.get())
                    .map_or(0, |r| r.unread(|m| chat.is_mine(m)))
            })
        })
    };
    // A `Copy` handle, so the closures below stay `Copy`.
    let handle = StoredValue::new(chat.clone());
    let mark_read = move || {
        if at_bottom.get_untracked() && !document().hidden() {
            handle.with_value(Chat::mark_read);
        }
    };
    let to_bottom = {
        move |list: &web_sys::HtmlOListElement| {
            list.set_scroll_top(list.scroll_height());
            at_bottom.set(true);
            mark_read();
            // Once the layout has settled (the jump button gone, say), again.
            let list = list.clone();
            request_animation_frame(move || list.set_scroll_top(list.scroll_height()));
        }
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
    // Another room on screen: at its newest message.
    Effect::new(move |_| {
        current.track();
        if let Some(list) = list.get_untracked() {
            request_animation_frame(move || to_bottom(&list));
        }
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
    // Where the list was last scrolled to, to tell the reader scrolling up
    // from the list growing under a scroll event still on its way.
    let last_top = StoredValue::new(0);
    let on_scroll = {
        let fetch_older = fetch_older.clone();
        move |_| {
            let Some(list) = list.get_untracked() else {
                return;
            };
            let top = list.scroll_top();
            let from_bottom = list.scroll_height() - top - list.client_height();
            let went_up = top < last_top.get_value();
            last_top.set_value(top);
            // A scroll event dispatched before a burst of new rows lands after
            // them and finds the bottom farther away: only scrolling up, or
            // reaching the bottom, changes whether the reader follows.
            if went_up || from_bottom < BOTTOM_SLACK_PX {
                at_bottom.set(from_bottom < BOTTOM_SLACK_PX);
            }
            mark_read();
            if list.scroll_top() < OLDER_THRESHOLD_PX && more_before.get_untracked() {
                fetch_older();
            }
        }
    };
    let pending_here = move || {
        chat.outbox.with(|pending| {
            pending
                .iter()
                .filter(|p| p.room == current.get())
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <ol
            class="messages"
            data-testid="messages"
            node_ref=list
            // New messages are announced by the `Announcer`, paced.
            aria-label="Messages"
            // Scrollable, so reachable with the keyboard.
            tabindex="0"
            on:scroll=on_scroll
        >
            <Show when=move || more_before.get()>
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
                newest.get().is_none() && pending_here().is_empty() && !more_before.get()
            }>
                <li class="empty" data-testid="empty-state">
                    "No messages here yet. Enter your name and a message below to start the conversation; "
                    "ChatFriend, the bot, answers in every room."
                </li>
            </Show>
            <For
                each=move || rows(&entries())
                // A row is drawn again when what goes before it changes its look.
                // Ids are per room: the room is part of the key.
                key=|row| {
                    let message = &row.entry.message;
                    (message.room.clone(), message.id, row.day.clone(), row.continued)
                }
                children=|row| {
                    view! { <MessageItem entry=row.entry day=row.day continued=row.continued /> }
                }
            />
            <For
                each=pending_here
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
