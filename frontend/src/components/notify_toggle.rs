use leptos::prelude::*;

use crate::notify;

/// A switch for desktop notifications while the tab is hidden; shown only
/// where the browser has them.
#[component]
pub fn NotifyToggle() -> impl IntoView {
    let on = RwSignal::new(notify::enabled());
    let toggle = move |_| {
        notify::set(!on.get_untracked(), move |now| on.set(now));
    };
    notify::supported().then(|| {
        view! {
            <button
                type="button"
                class="notify-toggle"
                data-testid="notify-toggle"
                aria-pressed=move || on.get().to_string()
                on:click=toggle
            >
                {move || if on.get() { "Notifications on" } else { "Notify me" }}
            </button>
        }
    })
}
