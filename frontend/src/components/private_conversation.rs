use leptos::either::Either;
use leptos::ev::SubmitEvent;
use leptos::html::Ol;
use leptos::prelude::*;

use crate::chat::Chat;
use crate::private_lines::{PrivateLineStoreFields as _, PrivateLinesStoreFields as _};
use crate::time;

/// The private conversation with the bot (Botmaster mode): every tab of
/// this browser's user sees the same one, and nobody else does.
#[component]
pub fn PrivateConversation() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let body = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let (store, user_id, private_error) = (chat.private_lines, chat.user_id, chat.private_error);
    let list = NodeRef::<Ol>::new();
    Effect::new(move |_| {
        // Follow new lines, and the last line as it grows.
        let last = store
            .lines()
            .with(|lines| lines.last().map(|line| line.key));
        if let Some(key) = last {
            store.lines().at_key(key).text().track();
        }
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        match chat.send_private(&body.get_untracked()) {
            Ok(()) => {
                body.set(String::new());
                error.set(None);
            }
            Err(invalid) => error.set(Some(invalid.to_string())),
        }
    };
    view! {
        <ol class="messages" data-testid="bot-messages" node_ref=list aria-live="polite" tabindex="0" aria-label="Your conversation with the bot">
            <For
                each=move || store.lines()
                key=|line| line.key()
                children=|line| {
                    // Who said it never changes; the rest redraws in place.
                    let from_bot = line.from_bot().get_untracked();
                    let author = if from_bot { "ChatFriend" } else { "You" };
                    let streaming = move || line.streaming().read().is_some();
                    let sending = move || line.sending().read().is_some();
                    view! {
                        <li
                            class=move || match (from_bot, streaming(), sending()) {
                                (true, true, _) => "message bot-message streaming",
                                (true, false, _) => "message bot-message",
                                (false, _, true) => "message pending",
                                (false, _, false) => "message",
                            }
                            data-testid="bot-line"
                            data-streaming=move || streaming().to_string()
                            data-state=move || if sending() { "sending" } else { "sent" }
                        >
                            <strong class="author" dir="auto">{author}</strong>
                            {move || match line.sent_at().get().filter(|_| !sending()) {
                                None => Either::Left(sending().then(|| view! { <span class="sent-at">"sending…"</span> })),
                                Some(at) => {
                                    let at = shared::Timestamp(at);
                                    let full = time::full(at);
                                    Either::Right(view! {
                                        <time class="sent-at" datetime=full.clone() title=full>{time::clock(at)}</time>
                                    })
                                }
                            }}
                            <span class="body" dir="auto">{move || line.text().get()}</span>
                            {move || line.image().get().map(|src| {
                                view! { <img class="bot-image" data-testid="bot-image" src=src alt="An image from the bot" /> }
                            })}
                        </li>
                    }
                }
            />
        </ol>
        <QuickReplies />
        <form class="compose" data-testid="bot-compose" on:submit=on_submit>
            <label class="grow">
                <span>"Ask the bot, privately"</span>
                <input type="text" data-testid="bot-body" autocomplete="off" bind:value=body />
            </label>
            <button type="submit" data-testid="bot-send">"Send"</button>
            <p class="error" data-testid="bot-error" role="alert">
                {move || {
                    error.get().or_else(|| private_error.get()).or_else(|| user_id.get().is_none().then(|| {
                        "The private conversation needs a session; connecting…".to_owned()
                    }))
                }}
            </p>
        </form>
    }
}

/// The answers the bot offered since the user last spoke, as buttons; a
/// click sends the answer. They disappear once the user says anything.
#[component]
fn QuickReplies() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let offered = move || {
        chat.private_lines.lines().with(|lines| {
            lines
                .iter()
                .rev()
                .take_while(|line| line.from_bot)
                .find(|line| !line.quick_replies.is_empty())
                .map(|line| line.quick_replies.clone())
                .unwrap_or_default()
        })
    };
    view! {
        <div class="quick-replies" data-testid="quick-replies">
            {move || {
                offered()
                    .into_iter()
                    .map(|choice| {
                        let title = choice.title.clone();
                        let chat = chat.clone();
                        view! {
                            <button
                                type="button"
                                data-testid="quick-reply"
                                on:click=move |_| chat.pick_quick_reply(&choice)
                            >
                                {title}
                            </button>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}
