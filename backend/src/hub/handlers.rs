use std::future::{Ready, ready};

use serde_json::Value;
use shared::events::{NEW_MESSAGE, OLDER};
use shared::{ChatError, ClientMessageId, NewMessage, OlderRequest, RoomName, UserName};
use socketioxide::ParserError;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::identify::{Identity, Refused, identify};
use super::refusal::{Refusal, refuse, reject};
use super::rooms::Access;
use super::sequencer::{Overloaded, Said};
use super::{Hub, private, profile, rooms, typing};
use crate::limits::{Action, Client};

/// The connect middleware: who the socket is (or why it is refused), and
/// its handlers in place before the client hears it is connected.
pub(super) async fn connecting(
    socket: SocketRef,
    State(hub): State<Hub>,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    let identity = identify(&socket, &hub, auth.ok())?;
    // The hub's server handle is set before any socket can connect.
    if let Some(io) = hub.io.get() {
        listen(&socket, io.clone(), &hub, &identity);
    }
    socket.extensions.insert(identity);
    Ok(())
}

/// A socket connected: bring it into its rooms. Its handlers are in place
/// already ([`listen`]).
pub(super) async fn on_connect(socket: SocketRef, io: SocketIo, State(hub): State<Hub>) {
    tracing::debug!(sid = %socket.id, "connected");
    let Some(identity) = socket.extensions.get::<Identity>() else {
        // The connect middleware always sets it; without it nothing is known.
        let _ = socket.disconnect();
        return;
    };
    if let Some(user) = identity.client.user.clone() {
        tokio::spawn(private::send_history(socket.clone(), hub.clone(), user));
    }
    rooms::arrive(&socket, &io, &hub, &identity).await;
}

/// Listens for everything a socket of `identity` may send, under its
/// client's limits. Called by the connect middleware, before the client is
/// told it is connected: socketioxide runs the connect handler as a task of
/// its own after sending CONNECT, and an event the client sends at once
/// could otherwise arrive before its handler and be dropped unanswered.
pub(super) fn listen(socket: &SocketRef, io: SocketIo, hub: &Hub, identity: &Identity) {
    if let Some(user) = identity.client.user.clone() {
        private::attach(socket, io, hub.clone(), user, identity.client.clone());
    }
    // The handler does its work before returning a finished future: socketioxide
    // calls handlers in the order messages arrive but runs their async bodies
    // as parallel tasks, and a chat must keep each sender's order.
    let client = identity.client.clone();
    socket.on(
        NEW_MESSAGE,
        move |socket: SocketRef,
              State(hub): State<Hub>,
              TryData(data): TryData<NewMessage>,
              ack: AckSender|
              -> Ready<()> {
            match check(&hub, &socket, &client, data) {
                Ok((said, client_id)) => {
                    let published = hub.sequencer.publish(said, client_id, socket.clone(), ack);
                    if let Err(Overloaded(ack)) = published {
                        refuse(&socket, &Refusal::Overloaded, ack, &hub.metrics);
                    }
                }
                Err(refusal) => refuse(&socket, &refusal, ack, &hub.metrics),
            }
            ready(())
        },
    );
    let client = identity.client.clone();
    socket.on(
        OLDER,
        move |socket: SocketRef,
              State(hub): State<Hub>,
              TryData(request): TryData<OlderRequest>,
              ack: AckSender| {
            let client = client.clone();
            async move {
                let Ok(OlderRequest { before, room }) = request else {
                    return reject(ack, ChatError::from(&Refusal::MalformedOlder));
                };
                match rooms::joined(&socket).access(&room) {
                    Access::In => {}
                    Access::Out => return reject(ack, (&Refusal::NotInRoom(room)).into()),
                    Access::Arriving => return reject(ack, (&Refusal::Arriving).into()),
                }
                if let Err(retry) = hub.limits.check(Action::Older, &client) {
                    return reject(ack, ChatError::from(&Refusal::RateLimited(retry)));
                }
                match hub.history.before(room, before.0).await {
                    Ok(history) => {
                        if let Err(error) = ack.send(&history) {
                            tracing::debug!(sid = %socket.id, %error, "cannot send older messages");
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot read older messages");
                        reject(ack, ChatError::from(&Refusal::Unavailable));
                    }
                }
            }
        },
    );
    rooms::listen(socket, &identity.client);
    profile::listen(socket, &identity.client);
    typing::listen(socket, &identity.client);
    socket.on_disconnect(
        async |socket: SocketRef, io: SocketIo, State(hub): State<Hub>| {
            tracing::debug!(sid = %socket.id, "disconnected");
            // Frees the session's place in its address's count now, not when
            // the last handle to the socket goes.
            let identity = socket.extensions.remove::<Identity>();
            let user = identity.and_then(|identity| identity.client.user);
            rooms::depart(&socket, &io, &hub, user.as_ref()).await;
        },
    );
}

/// Decides whether a message may be published: well-formed, valid, for a
/// room the socket is in, within the sender's rate and its share of the
/// store. Refused messages do not use up the rate.
///
/// A session's messages carry its user id and go out under its name; a
/// message naming someone else renames the session first (so its first
/// message names it). An anonymous socket names itself in every message,
/// as the tutorial's clients do.
fn check(
    hub: &Hub,
    socket: &SocketRef,
    client: &Client,
    data: Result<NewMessage, ParserError>,
) -> Result<(Said, Option<ClientMessageId>), Refusal> {
    let message = data.map_err(|_| Refusal::Malformed)?;
    if hub.drain.is_draining() {
        return Err(Refusal::Draining);
    }
    let session_name = client.user.as_ref().and_then(|user| hub.people.name(user));
    let named = message
        .user
        .as_deref()
        .is_some_and(|name| !name.trim().is_empty());
    let (user, body) = match session_name.clone() {
        Some(name) if !named => (name, message.validate_body()?),
        // The tutorial's shape: a message without a name is not one.
        None if message.user.is_none() => return Err(Refusal::Malformed),
        _ => message.validate()?,
    };
    let client_id = message.client_id()?;
    let room = match message.room.as_deref() {
        Some(room) => RoomName::parse(room)?,
        None => RoomName::general(),
    };
    match rooms::joined(socket).access(&room) {
        Access::In => {}
        Access::Out => return Err(Refusal::NotInRoom(room)),
        Access::Arriving => return Err(Refusal::Arriving),
    }
    hub.limits
        .check(Action::Message, client)
        .map_err(Refusal::RateLimited)?;
    hub.limits
        .store(client, user.as_str().len() + body.as_str().len())
        .map_err(Refusal::StoreQuota)?;
    // A name that is not the session's renames it, in the order of the
    // session's messages (a rename typed offline goes with its message).
    if let Some(session) = &client.user
        && session_name.as_ref() != Some(&user)
    {
        profile::adopt(hub, session, user.clone());
    }
    let said = Said {
        room,
        user_id: client.user.as_ref().map(|user| user.as_str().to_owned()),
        user: UserName::clone(&user),
        body,
    };
    Ok((said, client_id))
}
