use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::chat::Chat;

/// Name and message inputs with a Send button, for the room on screen.
/// Enter sends too (it submits the form). The name is the session's: shown
/// as the server remembers it, and a different one renames the session
/// before the message goes. The message is cleared once queued.
#[component]
pub fn ComposeForm() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let user = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let error = chat.error;
    // The session's name fills the field when it comes, unless typed over.
    Effect::new(move |_| {
        if let Some(name) = chat.name.get()
            && user.get_untracked().trim().is_empty()
        {
            user.set(name);
        }
    });

    let on_submit = {
        let chat = chat.clone();
        move |event: SubmitEvent| {
            event.prevent_default();
            let (name, text) = (user.get_untracked(), body.get_untracked());
            // The room on screen now, whenever the message goes.
            let room = chat.current.get_untracked();
            let renamed = chat.user_id.get_untracked().is_some()
                && !name.trim().is_empty()
                && chat.name.get_untracked().as_deref() != Some(name.trim());
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
            if renamed {
                // The message goes under the new name once the server has it.
                let new_name = name.clone();
                chat.rename(&new_name, move |chat| {
                    let _ = chat.send(room, &name, &text);
                });
            } else if let Err(invalid) = chat.send(room, &name, &text) {
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
