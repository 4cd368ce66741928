use leptos::prelude::*;

use crate::chat::Chat;
use crate::rooms;

/// Who is in the room on screen, the last arrival or departure, and who is
/// typing there. Announced politely to screen readers, and only these
/// short lines, never the messages' flow.
#[component]
pub fn PresenceBar() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let current = chat.current;
    let rooms = chat.rooms;
    let here = move || {
        rooms.with(|list| {
            let Some(room) = list.get(&current.get()) else {
                return String::new();
            };
            let names: Vec<&str> = room.members.iter().map(|m| m.name.as_str()).collect();
            let more = room.count.saturating_sub(names.len());
            match (names.is_empty(), more) {
                (true, 0) => String::new(),
                (true, n) => format!("{n} here"),
                (false, 0) => format!("Here: {}", names.join(", ")),
                (false, n) => format!("Here: {} and {n} more", names.join(", ")),
            }
        })
    };
    let change = move || rooms.with(|list| list.get(&current.get()).and_then(|r| r.change.clone()));
    let typing = move || {
        rooms.with(|list| {
            list.get(&current.get())
                .and_then(|r| rooms::typing_line(&r.typing))
        })
    };
    view! {
        <div class="presence">
            <p class="members" data-testid="members">{here}</p>
            <p class="change" data-testid="presence-change" aria-live="polite">{change}</p>
            <p class="typing" data-testid="typing" aria-live="polite">{typing}</p>
        </div>
    }
}
