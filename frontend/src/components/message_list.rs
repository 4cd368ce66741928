use leptos::html::Ol;
use leptos::prelude::*;

use super::MessageItem;
use crate::chat::Chat;

/// The conversation, oldest first, scrolled to the newest message whenever
/// one arrives.
#[component]
pub fn MessageList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let list = NodeRef::<Ol>::new();
    Effect::new(move |_| {
        chat.entries.with(Vec::len);
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    view! {
        <ol class="messages" data-testid="messages" node_ref=list aria-live="polite">
            <For
                each=move || chat.entries.get()
                key=|entry| entry.key
                children=|entry| view! { <MessageItem entry /> }
            />
        </ol>
    }
}
