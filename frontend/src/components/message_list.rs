use leptos::html::Ol;
use leptos::prelude::*;

use super::MessageItem;
use crate::chat::Chat;

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
            <For
                each=move || chat.entries.get()
                key=|entry| entry.message.id
                children=|entry| view! { <MessageItem entry /> }
            />
            <For
                each=move || chat.outbox.get()
                key=|pending| pending.client_id.clone()
                children=|pending| {
                    view! {
                        <li class="message pending" data-testid="pending-message" data-state="sending">
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
