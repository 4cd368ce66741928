use leptos::ev::SubmitEvent;
use leptos::html::Ol;
use leptos::prelude::*;

use crate::chat::Chat;
use crate::time;

/// The private conversation with the bot (Botmaster mode): every tab of
/// this browser's user sees the same one, and nobody else does.
#[component]
pub fn PrivateConversation() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let body = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let (lines, user_id, private_error) = (chat.private_lines, chat.user_id, chat.private_error);
    let list = NodeRef::<Ol>::new();
    Effect::new(move |_| {
        // Follow new lines and lines that grow.
        lines.with(|lines| lines.last().map(|line| (line.key, line.revision)));
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
                each=move || lines.get()
                key=|line| (line.key, line.revision)
                children=|line| {
                    let (class, author) = if line.from_bot {
                        ("message bot-message", "ChatFriend")
                    } else {
                        ("message", "You")
                    };
                    let image = line.image.map(|src| {
                        view! { <img class="bot-image" data-testid="bot-image" src=src alt="An image from the bot" /> }
                    });
                    view! {
                        <li
                            class=class
                            class:streaming=line.streaming.is_some()
                            class:pending=line.sending.is_some()
                            data-testid="bot-line"
                            data-streaming=line.streaming.is_some().to_string()
                            data-state=if line.sending.is_some() { "sending" } else { "sent" }
                        >
                            <strong class="author" dir="auto">{author}</strong>
                            {line.sending.is_some().then(|| view! { <span class="sent-at">"sending…"</span> })}
                            {line.sent_at.filter(|_| line.sending.is_none()).map(|at| {
                                let at = shared::Timestamp(at);
                                let full = time::full(at);
                                view! {
                                    <time class="sent-at" datetime=full.clone() title=full>{time::clock(at)}</time>
                                }
                            })}
                            <span class="body" dir="auto">{line.text}</span>
                            {image}
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
        chat.private_lines.with(|lines| {
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
