use leptos::prelude::*;

use crate::chat::Chat;

/// How often, at most, new messages are announced to screen readers.
const ANNOUNCE_EVERY_MS: u64 = 3000;

/// What a screen reader says about new messages in the room on screen:
/// one message is read out; several arriving together are summed up in one
/// sentence, at most every [`ANNOUNCE_EVERY_MS`], so a busy room does not
/// drown the reader. The reader's own messages are not announced.
#[component]
pub fn Announcer() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let said = RwSignal::new(String::new());
    // The newest message of the room on screen already accounted for.
    let seen = StoredValue::new(None::<(shared::RoomName, u64)>);
    // Messages not announced yet, and whether an announcement is due.
    let waiting = StoredValue::new(Vec::<(String, String)>::new());
    let due = StoredValue::new(false);
    let handle = StoredValue::new(chat.clone());
    let announce = move || {
        due.set_value(false);
        let news = std::mem::take(&mut *waiting.write_value());
        let room = chat.current.get_untracked();
        let text = match news.as_slice() {
            [] => return,
            [(name, body)] => format!("{name}: {body}"),
            [.., (name, body)] => format!(
                "{} new messages in #{room}; the latest from {name}: {body}",
                news.len()
            ),
        };
        said.set(text);
    };
    Effect::new(move |_| {
        let room = chat.current.get();
        let fresh: Vec<(String, String)> = chat.rooms.with(|rooms| {
            let Some(held) = rooms.get(&room) else {
                return Vec::new();
            };
            let newest = held.last_id().unwrap_or(0);
            let before = seen
                .get_value()
                .filter(|(r, _)| *r == room)
                .map(|(_, id)| id);
            seen.set_value(Some((room.clone(), newest)));
            // A room just opened is not news: only what arrives after.
            let Some(before) = before else {
                return Vec::new();
            };
            held.entries
                .iter()
                .filter(|e| e.message.id.0 > before)
                .filter(|e| !handle.with_value(|c| c.is_mine(&e.message)))
                .map(|e| {
                    (
                        e.message.user.as_str().to_owned(),
                        e.message.body.as_str().to_owned(),
                    )
                })
                .collect()
        });
        if fresh.is_empty() {
            return;
        }
        waiting.update_value(|w| w.extend(fresh));
        if !due.get_value() {
            due.set_value(true);
            leptos::task::spawn_local(async move {
                gloo_timers::future::sleep(std::time::Duration::from_millis(ANNOUNCE_EVERY_MS))
                    .await;
                announce();
            });
        }
    });
    view! {
        <p class="visually-hidden" data-testid="announcer" aria-live="polite" aria-atomic="true">
            {move || said.get()}
        </p>
    }
}
