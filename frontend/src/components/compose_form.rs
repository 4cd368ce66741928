use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::chat::Chat;

/// Name and message inputs with a Send button, for the room on screen.
/// Enter sends too (it submits the form). The name is the session's: shown
/// as the server remembers it (and as another tab renames it); a message
/// sent under a different one renames the session, in order with the
/// messages, offline too. The message is cleared once queued.
#[component]
pub fn ComposeForm() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let user = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let error = chat.error;
    // The session's name fills the field when it comes or changes, unless
    // the field holds something else the reader typed.
    Effect::new(move |previous: Option<Option<String>>| {
        let name = chat.name.get();
        let typed = user.get_untracked();
        let untouched =
            typed.trim().is_empty() || previous.flatten().as_deref() == Some(typed.trim());
        if let Some(name) = &name
            && untouched
        {
            user.set(name.clone());
        }
        name
    });

    let on_submit = {
        let chat = chat.clone();
        move |event: SubmitEvent| {
            event.prevent_default();
            let (name, text) = (user.get_untracked(), body.get_untracked());
            // The room on screen now, whenever the message goes.
            let room = chat.current.get_untracked();
            let message = shared::NewMessage {
                user: Some(name.clone()),
                body: text.clone(),
                client_id: None,
                room: None,
            };
            if let Err(invalid) = message.validate() {
                return error.set(Some(invalid.to_string()));
            }
            body.set(String::new());
            if let Err(invalid) = chat.send(room, &name, &text) {
                error.set(Some(invalid.to_string()));
            }
        }
    };
    let on_input = move |_| chat.typing();

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
                    enterkeyhint="send"
                    bind:value=body
                    on:input=on_input
                />
            </label>
            <button type="submit" data-testid="send">"Send"</button>
            <p class="error" data-testid="error" role="alert">
                {move || error.get()}
            </p>
        </form>
    }
}
