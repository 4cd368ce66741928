use leptos::prelude::*;
use protocol::{ConnectionState, TransportKind};

use crate::chat::Chat;

/// A badge saying whether messages go out now or will wait, and over which
/// transport.
#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let state = move || match chat.status.get() {
        ConnectionState::Idle | ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Reconnecting { .. } => "reconnecting",
        ConnectionState::Closed => "offline",
    };
    let label = move || match chat.status.get() {
        ConnectionState::Idle | ConnectionState::Connecting => "Connecting…".to_owned(),
        ConnectionState::Connected => match chat.transport.get() {
            Some(TransportKind::Polling) => "Connected (long-polling)".to_owned(),
            Some(TransportKind::WebSocket) => "Connected (WebSocket)".to_owned(),
            None => "Connected".to_owned(),
        },
        ConnectionState::Reconnecting { attempt } => format!("Reconnecting… (attempt {attempt})"),
        ConnectionState::Closed => "Offline".to_owned(),
    };
    view! {
        <span
            class="connection-status"
            data-testid="connection-status"
            data-state=state
            data-transport=move || chat.transport.get().map(TransportKind::name)
            role="status"
            aria-live="polite"
        >
            {label}
        </span>
    }
}
