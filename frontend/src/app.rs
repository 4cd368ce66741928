use leptos::prelude::*;

use crate::chat::Chat;
use crate::components::{
    Announcer, ComposeForm, ConnectionStatus, MessageList, NotifyToggle, PresenceBar,
    PrivateConversation, RoomList,
};

/// Which conversation the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Everyone, and the bot's public replies.
    Group,
    /// This user and the bot, privately (Botmaster mode).
    Bot,
}

/// The whole page: connects, provides the [`Chat`] context, lays out the parts.
#[component]
pub fn App() -> impl IntoView {
    provide_context(Chat::connect());
    let view = RwSignal::new(View::Group);
    let tab = move |which: View, label: &'static str, testid: &'static str| {
        view! {
            <button
                type="button"
                role="tab"
                data-testid=testid
                aria-selected=move || (view.get() == which).to_string()
                on:click=move |_| view.set(which)
            >
                {label}
            </button>
        }
    };
    view! {
        <main class="chat">
            <header class="chat-header">
                <h1>"A Chat with ChatFriend"</h1>
                <div class="header-tools">
                    <NotifyToggle />
                    <ConnectionStatus />
                </div>
            </header>
            <nav class="tabs" role="tablist">
                {tab(View::Group, "Group chat", "tab-group")}
                {tab(View::Bot, "Talk to the bot", "tab-bot")}
            </nav>
            <Show
                when=move || view.get() == View::Group
                fallback=|| view! { <PrivateConversation /> }
            >
                <div class="group">
                    <RoomList />
                    <section class="room" aria-label="Room">
                        <MessageList />
                        <Announcer />
                        <PresenceBar />
                        <ComposeForm />
                    </section>
                </div>
            </Show>
        </main>
    }
}
