//! "Ann is typing…": passed on to the room at once and never stored. The
//! page says so at most every [`TYPING_EVERY_MS`](shared::TYPING_EVERY_MS)
//! while typing; the server drops anything faster than a person's signal rate.

use shared::events::TYPING;
use shared::{RoomName, RoomRef, Typing};
use socketioxide::extract::{SocketRef, State, TryData};

use super::conversation::room_key;
use super::{Hub, rooms};
use crate::limits::{Action, Client};

/// Listens for `socket` typing. Only a session with a name is shown typing.
pub(super) fn listen(socket: &SocketRef, client: &Client) {
    let client = client.clone();
    socket.on(
        TYPING,
        move |socket: SocketRef, State(hub): State<Hub>, TryData(request): TryData<RoomRef>| {
            let client = client.clone();
            async move {
                let Some(user) = client.user.as_ref() else {
                    return;
                };
                let Some(room) = request.ok().and_then(|r| RoomName::parse(&r.room).ok()) else {
                    return;
                };
                if !rooms::joined(&socket).contains(&room)
                    || hub.limits.check(Action::Signal, &client).is_err()
                {
                    return;
                }
                let Some(name) = hub.people.name(user) else {
                    return;
                };
                let typing = Typing {
                    room: room.clone(),
                    user_id: user.as_str().to_owned(),
                    name,
                };
                let key = room_key(&room);
                hub.relay.to_others(&key, TYPING, &typing);
                let _ = socket.to(key).emit(TYPING, &typing).await;
            }
        },
    );
}
