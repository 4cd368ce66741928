//! Group rooms: where each lives in the store and in Socket.IO, which rooms
//! a socket is in, and the requests to join, leave and mark a room read.
//!
//! A session user's rooms and read positions are kept in the store, so every
//! tab of theirs opens in the same rooms with the same unread counts; an
//! anonymous socket (the tutorial's clients) is in `general` and in the
//! rooms it joins while connected.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use shared::events::{JOIN, LEAVE, PRESENCE, READ, ROOMS};
use shared::{
    GENERAL, JoinRequest, MAX_ROOMS_PER_USER, ReadMark, RoomName, RoomOutcome, RoomRef, RoomState,
    Welcome,
};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::conversation::{private_key, room_key};
use super::identify::Identity;
use super::refusal::{Refusal, reject};
use super::{Hub, history};
use crate::identity::UserId;
use crate::limits::{Action, Client};
use crate::store::{Created, Membership, StoreError};

/// Rooms the server holds besides `general`, at most.
const MAX_ROOMS: usize = 10_000;

/// The rooms a socket is in (or is being brought into), in its extensions.
#[derive(Debug, Clone, Default)]
pub(super) struct Joined(Arc<Mutex<JoinedRooms>>);

#[derive(Debug, Default)]
struct JoinedRooms {
    rooms: BTreeSet<RoomName>,
    /// The user's rooms, once read, which the socket is being brought into.
    expected: BTreeSet<RoomName>,
    /// Whether the user's rooms have been read; until then a room missing
    /// here may be one of them.
    settled: bool,
}

/// Whether a socket may write to or read a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// It is in the room.
    In,
    /// It is not.
    Out,
    /// It is still being brought into its rooms: ask again in a moment.
    Arriving,
}

impl Joined {
    fn rooms(&self) -> std::sync::MutexGuard<'_, JoinedRooms> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, room: RoomName) -> bool {
        self.rooms().rooms.insert(room)
    }

    fn remove(&self, room: &RoomName) -> bool {
        let mut joined = self.rooms();
        joined.expected.remove(room);
        joined.rooms.remove(room)
    }

    /// The user's rooms are known: the socket is being brought into them.
    fn expect(&self, rooms: impl IntoIterator<Item = RoomName>) {
        let mut joined = self.rooms();
        joined.expected.extend(rooms);
        joined.settled = true;
    }

    /// Whether the socket is in `room`.
    pub(super) fn contains(&self, room: &RoomName) -> bool {
        self.rooms().rooms.contains(room)
    }

    /// Whether the socket may use `room` now. A socket that reconnects
    /// resends at once, before its rooms are read: it is told to retry, not
    /// refused for good.
    pub(super) fn access(&self, room: &RoomName) -> Access {
        let rooms = self.rooms();
        let member = rooms.rooms.contains(room) || rooms.expected.contains(room);
        match (member, rooms.settled) {
            (true, _) => Access::In,
            (false, true) => Access::Out,
            (false, false) => Access::Arriving,
        }
    }

    fn take(&self) -> BTreeSet<RoomName> {
        let mut joined = self.rooms();
        joined.expected.clear();
        std::mem::take(&mut joined.rooms)
    }
}

/// The rooms of a socket that just connected: its session user's (with
/// `general` added for a new user), or `general` alone without a session;
/// with the session's name.
async fn rooms_of(hub: &Hub, user: Option<&UserId>) -> Result<Welcome, StoreError> {
    let Some(user) = user.cloned() else {
        return Ok(Welcome {
            user_id: None,
            name: None,
            rooms: vec![RoomState {
                room: RoomName::general(),
                last_read: 0,
            }],
        });
    };
    let store = hub.store.as_ref();
    let mut rooms = store.memberships(user.as_str()).await?;
    if !rooms.iter().any(|(room, _)| room == GENERAL) {
        store.join_room(user.as_str(), GENERAL, usize::MAX).await?;
        rooms.push((GENERAL.to_owned(), 0));
    }
    Ok(Welcome {
        user_id: Some(user.as_str().to_owned()),
        name: store
            .name(user.as_str())
            .await?
            .map(shared::UserName::from_store),
        rooms: states(rooms),
    })
}

/// Stored memberships as the page lists them: `general` first, then by name.
pub(super) fn states(rooms: Vec<(String, u64)>) -> Vec<RoomState> {
    let mut states: Vec<RoomState> = rooms
        .into_iter()
        .filter_map(|(room, last_read)| {
            let room = RoomName::parse(&room).ok()?;
            Some(RoomState { room, last_read })
        })
        .collect();
    states.sort_by_key(|state| (!state.room.is_general(), state.room.clone()));
    states
}

/// Brings a socket that just connected into its rooms: tells it who it is
/// and which rooms it is in, then sends each room's missed messages
/// (after the ids the page said it has) and lets it hear them live.
pub(super) async fn arrive(socket: &SocketRef, io: &SocketIo, hub: &Hub, identity: &Identity) {
    let user = identity.client.user.as_ref();
    let mut welcome = match rooms_of(hub, user).await {
        Ok(welcome) => welcome,
        Err(error) => {
            // Without its rooms the page would show a wrong list: it reconnects.
            tracing::warn!(sid = %socket.id, %error, "cannot read the user's rooms; disconnecting");
            let _ = socket.clone().disconnect();
            return;
        }
    };
    if let Some(user) = user {
        hub.people.arrive(user, welcome.name.take());
        welcome.name = hub.people.name(user);
    }
    // The tutorial's anonymous clients are in `general` alone: nothing to say.
    if user.is_some()
        && let Err(error) = socket.emit(ROOMS, &welcome)
    {
        tracing::debug!(sid = %socket.id, %error, "cannot send the rooms");
    }
    joined(socket).expect(welcome.rooms.iter().map(|state| state.room.clone()));
    for state in welcome.rooms {
        if joined(socket).insert(state.room.clone()) {
            let last_id = identity.last_ids.get(&state.room).copied();
            enter(socket, io, hub, user, state.room, last_id).await;
        }
    }
}

/// Brings `socket`, just added to `room`'s [`Joined`], into the room: its
/// history, then live messages, and the room's members told when the user
/// is new there.
async fn enter(
    socket: &SocketRef,
    io: &SocketIo,
    hub: &Hub,
    user: Option<&UserId>,
    room: RoomName,
    last_id: Option<u64>,
) {
    hub.sequencer
        .join(socket.clone(), room.clone(), last_id)
        .await;
    if let Some(user) = user {
        hub.people.enter(&room, user);
        // To the room and to the socket, which may not hear the room yet.
        let presence = hub.people.presence(&room);
        let _ = socket.emit(PRESENCE, &presence);
        let _ = io.to(room_key(&room)).emit(PRESENCE, &presence).await;
    }
}

/// Takes `socket` out of `room`, telling the room when the user is gone from it.
async fn exit(
    socket: &SocketRef,
    io: &SocketIo,
    hub: &Hub,
    user: Option<&UserId>,
    room: &RoomName,
) {
    socket.leave(room_key(room));
    if let Some(user) = user
        && hub.people.exit(room, user)
    {
        let _ = io
            .to(room_key(room))
            .emit(PRESENCE, &hub.people.presence(room))
            .await;
    }
}

/// A socket closed: out of its rooms, and its user forgotten with their last socket.
pub(super) async fn depart(socket: &SocketRef, io: &SocketIo, hub: &Hub, user: Option<&UserId>) {
    for room in joined(socket).take() {
        exit(socket, io, hub, user, &room).await;
    }
    if let Some(user) = user {
        hub.people.depart(user);
    }
}

/// The rooms `socket` is in.
pub(super) fn joined(socket: &SocketRef) -> Joined {
    if let Some(joined) = socket.extensions.get::<Joined>() {
        return joined;
    }
    let joined = Joined::default();
    socket.extensions.insert(joined.clone());
    joined
}

/// Listens for `socket`'s requests to join, leave and mark rooms read.
pub(super) fn listen(socket: &SocketRef, client: &Client) {
    let for_join = client.clone();
    socket.on(
        JOIN,
        async move |socket: SocketRef,
                    io: SocketIo,
                    State(hub): State<Hub>,
                    TryData(request): TryData<JoinRequest>,
                    ack: AckSender| {
            let client = for_join;
            let Ok(request) = request else {
                return reject(ack, (&Refusal::MalformedRoom).into());
            };
            match admit(&hub, &client, &request.room).await {
                Ok((room, last_read)) => {
                    let state = RoomState {
                        room: room.clone(),
                        last_read,
                    };
                    // In before the ack: what the page sends once it has the
                    // ack is for a room it is in.
                    let fresh = joined(&socket).insert(room.clone());
                    if let Err(error) = ack.send(&RoomOutcome::Joined(state)) {
                        tracing::debug!(%error, "cannot send ack");
                    }
                    if fresh {
                        let last_id = request.last_id.map(|id| id.0);
                        enter(&socket, &io, &hub, client.user.as_ref(), room, last_id).await;
                    }
                }
                Err(refusal) => reject(ack, (&refusal).into()),
            }
        },
    );
    let for_leave = client.clone();
    socket.on(
        LEAVE,
        async move |socket: SocketRef,
                    io: SocketIo,
                    State(hub): State<Hub>,
                    TryData(request): TryData<RoomRef>| {
            let user = for_leave.user;
            let Some(room) = request.ok().and_then(|r| RoomName::parse(&r.room).ok()) else {
                return;
            };
            if room.is_general() || !joined(&socket).remove(&room) {
                return;
            }
            exit(&socket, &io, &hub, user.as_ref(), &room).await;
            if let Some(user) = user {
                let left = hub.store.leave_room(user.as_str(), room.as_str()).await;
                if let Err(error) = left {
                    tracing::warn!(%error, %room, "cannot forget a room left");
                }
            }
        },
    );
    let for_read = client.clone();
    socket.on(
        READ,
        async move |socket: SocketRef,
                    io: SocketIo,
                    State(hub): State<Hub>,
                    TryData(mark): TryData<ReadMark>| {
            let client = for_read;
            let (Ok(mark), Some(user)) = (mark, client.user.clone()) else {
                return;
            };
            if !joined(&socket).contains(&mark.room)
                || hub.limits.check(Action::Signal, &client).is_err()
            {
                return;
            }
            let marked = hub
                .store
                .mark_read(user.as_str(), mark.room.as_str(), mark.id.0)
                .await;
            match marked {
                Ok(true) => {
                    hub.relay.to_others(&private_key(&user), READ, &mark);
                    let others = io.to(private_key(&user)).except(socket.id.to_string());
                    let _ = others.emit(READ, &mark).await;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot keep a read mark"),
            }
        },
    );
}

/// Decides whether `client` may enter the room named `raw`, creating it
/// when new; returns it and how far the user has read it.
async fn admit(hub: &Hub, client: &Client, raw: &str) -> Result<(RoomName, u64), Refusal> {
    let room = RoomName::parse(raw)?;
    hub.limits
        .check(Action::Signal, client)
        .map_err(Refusal::RateLimited)?;
    let exists = room.is_general()
        || hub
            .store
            .room_exists(room.as_str())
            .await
            .map_err(|_| Refusal::Unavailable)?;
    if !exists {
        hub.limits
            .check(Action::NewRoom, client)
            .map_err(Refusal::RateLimited)?;
        let created = hub
            .store
            .create_room(room.as_str(), MAX_ROOMS, history::now().0)
            .await
            .map_err(|_| Refusal::Unavailable)?;
        if created == Created::Full {
            return Err(Refusal::TooManyRooms);
        }
    }
    let Some(user) = client.user.clone() else {
        return Ok((room, 0));
    };
    let membership = hub
        .store
        .join_room(user.as_str(), room.as_str(), MAX_ROOMS_PER_USER)
        .await
        .map_err(|_| Refusal::Unavailable)?;
    match membership {
        Membership::Member { last_read } => Ok((room, last_read)),
        Membership::Full => Err(Refusal::InTooManyRooms(MAX_ROOMS_PER_USER)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_comes_first_then_rooms_by_name() {
        let rooms = states(vec![
            ("ops".into(), 1),
            ("general".into(), 4),
            ("dev".into(), 2),
            ("Not A Room".into(), 9),
        ]);
        let names: Vec<&str> = rooms.iter().map(|s| s.room.as_str()).collect();
        assert_eq!(names, ["general", "dev", "ops"]);
        assert_eq!(rooms[0].last_read, 4);
    }
}
