//! A session's display name: chosen once, kept in the store, changeable,
//! and the name every message of the session goes out under.

use shared::events::{NAME, PRESENCE, ROOMS};
use shared::{NameOutcome, Rename, UserName, Welcome};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::conversation::{private_key, room_key};
use super::refusal::{Refusal, reject};
use super::{Hub, rooms};
use crate::identity::UserId;
use crate::limits::{Action, Client};
use crate::store::StoreError;

/// Listens for `socket`'s renames. Anonymous sockets have no session to name.
pub(super) fn listen(socket: &SocketRef, client: &Client) {
    let client = client.clone();
    socket.on(
        NAME,
        async move |io: SocketIo,
                    State(hub): State<Hub>,
                    TryData(request): TryData<Rename>,
                    ack: AckSender| {
            match rename(&io, &hub, &client, request).await {
                Ok(welcome) => {
                    if let Err(error) = ack.send(&NameOutcome::Named(welcome)) {
                        tracing::debug!(%error, "cannot send ack");
                    }
                }
                Err(refusal) => reject(ack, (&refusal).into()),
            }
        },
    );
}

async fn rename(
    io: &SocketIo,
    hub: &Hub,
    client: &Client,
    request: Result<Rename, socketioxide::ParserError>,
) -> Result<Welcome, Refusal> {
    let request = request.map_err(|_| Refusal::Malformed)?;
    let name = UserName::parse(&request.name)?;
    let user = client.user.clone().ok_or(Refusal::NeedsSession)?;
    hub.limits
        .check(Action::Signal, client)
        .map_err(Refusal::RateLimited)?;
    keep_name(io, hub, &user, name)
        .await
        .map_err(|_| Refusal::Unavailable)
}

/// Gives `user` the name their latest message was sent under: kept, told
/// to the rooms they are in and to their other tabs.
pub(super) fn adopt(hub: &Hub, user: &UserId, name: UserName) {
    hub.people.rename(user, name.clone());
    let (hub, user) = (hub.clone(), user.clone());
    tokio::spawn(async move {
        let Some(io) = hub.io.get() else { return };
        if let Err(error) = keep_name(io, &hub, &user, name.clone()).await {
            tracing::warn!(%error, "cannot keep a session's name");
            // The name is the session's in memory all the same.
            renamed(io, &hub, &user, name).await;
        }
    });
}

/// Keeps `name` as `user`'s, then tells the rooms they are in and their
/// tabs (the [`Welcome`] they get, returned); nothing is told when the
/// store fails.
async fn keep_name(
    io: &SocketIo,
    hub: &Hub,
    user: &UserId,
    name: UserName,
) -> Result<Welcome, StoreError> {
    hub.store.set_name(user.as_str(), name.as_str()).await?;
    let rooms = hub.store.memberships(user.as_str()).await?;
    renamed(io, hub, user, name.clone()).await;
    let welcome = Welcome {
        user_id: Some(user.as_str().to_owned()),
        name: Some(name),
        rooms: rooms::states(rooms),
    };
    hub.relay.to_others(&private_key(user), ROOMS, &welcome);
    let _ = io.to(private_key(user)).emit(ROOMS, &welcome).await;
    Ok(welcome)
}

/// Tells the rooms `user` is in their new member list.
async fn renamed(io: &SocketIo, hub: &Hub, user: &UserId, name: UserName) {
    for room in hub.people.rename(user, name) {
        let presence = hub.people.presence(&room);
        let _ = io.to(room_key(&room)).emit(PRESENCE, &presence).await;
    }
}
