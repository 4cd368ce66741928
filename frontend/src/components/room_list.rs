use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use shared::MAX_ROOM_CHARS;

use crate::chat::Chat;
use crate::rooms;

/// The page's title, before the unread count.
const TITLE: &str = "Chat with ChatFriend";

/// The user's rooms with their unread counts, a field to join or create a
/// room, and a way to leave the room on screen. Each room is a link to its
/// own address (`#name`), which can be shared. The tab's title counts the
/// unread messages of all rooms.
#[component]
pub fn RoomList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let wanted = RwSignal::new(String::new());
    let unread = {
        let chat = chat.clone();
        move |room: &shared::RoomName| {
            chat.rooms
                .with(|list| list.get(room).map_or(0, |r| r.unread(|m| chat.is_mine(m))))
        }
    };
    let total = {
        let chat = chat.clone();
        Memo::new(move |_| {
            chat.rooms.with(|list| {
                list.values()
                    .map(|r| r.unread(|m| chat.is_mine(m)))
                    .sum::<usize>()
            })
        })
    };
    Effect::new(move |_| {
        let title = match total.get() {
            0 => TITLE.to_owned(),
            n => format!("({n}) {TITLE}"),
        };
        document().set_title(&title);
    });
    let on_join = {
        let chat = chat.clone();
        move |event: SubmitEvent| {
            event.prevent_default();
            chat.join(&wanted.get_untracked());
            wanted.set(String::new());
        }
    };
    let current = chat.current;
    let leave = chat.clone();
    view! {
        <nav class="rooms" aria-label="Rooms" data-testid="rooms">
            <ul>
                <For
                    each=move || chat.rooms.with(rooms::order)
                    key=|room| room.clone()
                    children=move |room| {
                        let name = room.to_string();
                        let shown = room.clone();
                        let is_current = move || current.get() == shown;
                        let count = {
                            let (unread, room) = (unread.clone(), room.clone());
                            move || unread(&room)
                        };
                        let label = {
                            let (count, name) = (count.clone(), name.clone());
                            move || match count() {
                                0 => format!("#{name}"),
                                n => format!("#{name}, {n} unread"),
                            }
                        };
                        view! {
                            <li>
                                <a
                                    href=format!("#{name}")
                                    data-testid="room"
                                    data-room=name.clone()
                                    aria-current=move || is_current().then_some("page")
                                    aria-label=label
                                >
                                    <span class="room-name">{format!("#{name}")}</span>
                                    <Show when={
                                        let count = count.clone();
                                        move || count() > 0
                                    }>
                                        <span class="unread" data-testid="unread">{count.clone()}</span>
                                    </Show>
                                </a>
                            </li>
                        }
                    }
                />
            </ul>
            <form class="join" data-testid="join-room" on:submit=on_join>
                <label>
                    <span>"Join or create a room"</span>
                    <input
                        type="text"
                        data-testid="room-name"
                        placeholder="room-name"
                        maxlength=MAX_ROOM_CHARS
                        autocomplete="off"
                        autocapitalize="none"
                        bind:value=wanted
                    />
                </label>
                <button type="submit" data-testid="join">"Join"</button>
            </form>
            <Show when=move || !current.get().is_general()>
                <button
                    type="button"
                    class="leave"
                    data-testid="leave-room"
                    on:click={
                        let leave = leave.clone();
                        move |_| leave.leave(&current.get_untracked())
                    }
                >
                    {move || format!("Leave #{}", current.get())}
                </button>
            </Show>
        </nav>
    }
}
