use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use shared::NewMessage;

use crate::chat::Chat;

/// Name and message inputs with a Send button. Enter sends too (it submits
/// the form). The name stays for the next message; the message is cleared.
#[component]
pub fn ComposeForm() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let user = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let error = chat.error;

    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        let message = NewMessage {
            user: user.get_untracked(),
            body: body.get_untracked(),
            client_id: None,
        };
        match chat.send(&message) {
            Ok(()) => body.set(String::new()),
            Err(invalid) => error.set(Some(invalid.to_string())),
        }
    };

    view! {
        <form class="compose" data-testid="compose" on:submit=on_submit>
            <label>
                <span>"Your name"</span>
                <input
                    type="text"
                    data-testid="name"
                    autocomplete="nickname"
                    bind:value=user
                />
            </label>
            <label class="grow">
                <span>"Your message"</span>
                <input
                    type="text"
                    data-testid="body"
                    autocomplete="off"
                    bind:value=body
                />
            </label>
            <button type="submit" data-testid="send">"Send"</button>
            <p class="error" data-testid="error" role="alert">
                {move || error.get()}
            </p>
        </form>
    }
}
