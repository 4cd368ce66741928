use leptos::prelude::*;

use crate::chat::Chat;
use crate::components::{ComposeForm, ConnectionStatus, MessageList};

/// The whole page: connects, provides the [`Chat`] context, lays out the parts.
#[component]
pub fn App() -> impl IntoView {
    provide_context(Chat::connect());
    view! {
        <main class="chat">
            <header class="chat-header">
                <h1>"A Chat with ChatFriend"</h1>
                <ConnectionStatus />
            </header>
            <MessageList />
            <ComposeForm />
        </main>
    }
}
