//! The group rooms as the page holds them, and the plain functions that
//! merge what the server sends into them: history, live messages, read
//! marks, who is there and who is typing. No signals here: the chat calls
//! these inside its updates.

use std::collections::BTreeMap;

use shared::{ChatMessage, History, Member, MessageId, Presence, RoomName, RoomState, Typing};

/// One message of a group room.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The message as the server published it; its id is the list's key.
    pub message: ChatMessage,
    /// Whether the bot wrote it; shown differently.
    pub from_bot: bool,
}

/// Someone typing, until a time (milliseconds, the page's clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Typist {
    /// Their user id.
    pub user_id: String,
    /// Their name.
    pub name: String,
    /// When to stop showing it.
    pub until: f64,
}

/// One room as far as the page has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Room {
    /// Its messages, in server order.
    pub entries: Vec<Entry>,
    /// Whether older messages than the first entry exist on the server.
    pub more_before: bool,
    /// The last message the user has read, on any tab.
    pub last_read: u64,
    /// Who is there now.
    pub members: Vec<Member>,
    /// How many are there, listed or not.
    pub count: usize,
    /// Who is typing there.
    pub typing: Vec<Typist>,
    /// The last arrival or departure, for the status line.
    pub change: Option<String>,
}

impl Room {
    /// The id of the newest message held.
    pub fn last_id(&self) -> Option<u64> {
        self.entries.last().map(|entry| entry.message.id.0)
    }

    /// Messages after the read mark, not counting the reader's own (as
    /// `mine` tells), and those not held yet below the first one held.
    pub fn unread(&self, mine: impl Fn(&ChatMessage) -> bool) -> usize {
        let held = self
            .entries
            .iter()
            .rev()
            .take_while(|entry| entry.message.id.0 > self.last_read)
            .filter(|entry| !mine(&entry.message))
            .count();
        let first = self.entries.first().map_or(0, |entry| entry.message.id.0);
        let missing = usize::try_from(first.saturating_sub(self.last_read + 1)).unwrap_or(0);
        held + missing
    }
}

/// All the rooms the user is in, by name.
pub type Rooms = BTreeMap<RoomName, Room>;

/// The rooms in list order: `general` first, then by name.
pub fn order(rooms: &Rooms) -> Vec<RoomName> {
    let mut names: Vec<RoomName> = rooms.keys().cloned().collect();
    names.sort_by_key(|name| (!name.is_general(), name.clone()));
    names
}

/// Takes the server's list of the user's rooms: new ones added, read marks
/// moved forward, rooms the user is no longer in dropped unless `keep`.
pub fn welcome(rooms: &mut Rooms, states: Vec<RoomState>, keep: &RoomName) {
    rooms.retain(|name, _| name == keep || states.iter().any(|state| &state.room == name));
    for state in states {
        let room = rooms.entry(state.room).or_default();
        room.last_read = room.last_read.max(state.last_read);
    }
}

/// Adds what the server says the page missed of a room, or starts over with it.
pub fn apply_history(rooms: &mut Rooms, history: History) {
    let room = rooms.entry(history.room).or_default();
    if history.reset {
        room.entries.clear();
        room.more_before = history.more;
    }
    merge(&mut room.entries, history.messages);
}

/// Adds a live message unless the page has it already; its sender is no
/// longer typing.
pub fn append(rooms: &mut Rooms, message: ChatMessage) {
    let room = rooms.entry(message.room.clone()).or_default();
    if let Some(sender) = &message.user_id {
        room.typing.retain(|typist| &typist.user_id != sender);
    }
    merge(&mut room.entries, vec![message]);
}

/// Puts `messages` where their ids belong, skipping any the page has.
pub fn merge(list: &mut Vec<Entry>, messages: Vec<ChatMessage>) {
    for message in messages {
        // Almost always at the end (live) or the start (older): found at once.
        match list.binary_search_by_key(&message.id, |entry| entry.message.id) {
            Ok(_) => {}
            Err(at) => {
                let from_bot = message.from_bot();
                list.insert(at, Entry { message, from_bot });
            }
        }
    }
}

/// Moves a room's read mark forward; returns whether it moved.
pub fn mark_read(rooms: &mut Rooms, room: &RoomName, id: MessageId) -> bool {
    match rooms.get_mut(room) {
        Some(room) if id.0 > room.last_read => {
            room.last_read = id.0;
            true
        }
        _ => false,
    }
}

/// Takes a room's new member list, noting who arrived or left.
pub fn presence(rooms: &mut Rooms, presence: Presence) {
    let Some(room) = rooms.get_mut(&presence.room) else {
        return;
    };
    let had = |members: &[Member], id: &str| members.iter().any(|m| m.user_id == id);
    let arrived = presence
        .members
        .iter()
        .find(|m| !had(&room.members, &m.user_id));
    let left = room
        .members
        .iter()
        .find(|m| !had(&presence.members, &m.user_id));
    // The first list a room gets is who was there, not who arrived.
    if !room.members.is_empty() || room.count > 0 {
        room.change = match (arrived, left) {
            (Some(member), _) => Some(format!("{} joined", member.name.as_str())),
            (None, Some(member)) => Some(format!("{} left", member.name.as_str())),
            (None, None) => room.change.take(),
        };
    }
    room.members = presence.members;
    room.count = presence.count;
}

/// Shows that someone is typing in a room until `until`, unless it is `me`.
pub fn typing(rooms: &mut Rooms, typing: Typing, me: Option<&str>, until: f64) {
    if me == Some(typing.user_id.as_str()) {
        return;
    }
    let Some(room) = rooms.get_mut(&typing.room) else {
        return;
    };
    room.typing
        .retain(|typist| typist.user_id != typing.user_id);
    room.typing.push(Typist {
        user_id: typing.user_id,
        name: typing.name.as_str().to_owned(),
        until,
    });
}

/// Forgets who stopped typing before `now`; returns whether anything changed.
pub fn expire_typing(rooms: &mut Rooms, now: f64) -> bool {
    let mut changed = false;
    for room in rooms.values_mut() {
        let before = room.typing.len();
        room.typing.retain(|typist| typist.until > now);
        changed |= room.typing.len() != before;
    }
    changed
}

/// "Ann is typing…", "Ann and Bob are typing…", "3 people are typing…".
pub fn typing_line(typists: &[Typist]) -> Option<String> {
    match typists {
        [] => None,
        [one] => Some(format!("{} is typing…", one.name)),
        [one, two] => Some(format!("{} and {} are typing…", one.name, two.name)),
        many => Some(format!("{} people are typing…", many.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{MessageBody, Timestamp, UserName};

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn message(room_name: &str, id: u64, user_id: Option<&str>) -> ChatMessage {
        ChatMessage {
            id: MessageId(id),
            user: UserName::parse("ann").unwrap(),
            body: MessageBody::parse("hi").unwrap(),
            sent_at: Timestamp(id),
            client_id: None,
            room: room(room_name),
            user_id: user_id.map(str::to_owned),
            answers: None,
        }
    }

    fn ids(rooms: &Rooms, name: &str) -> Vec<u64> {
        rooms[&room(name)]
            .entries
            .iter()
            .map(|e| e.message.id.0)
            .collect()
    }

    #[test]
    fn each_room_keeps_its_own_messages_once_in_order() {
        let mut rooms = Rooms::new();
        append(&mut rooms, message("dev", 2, None));
        append(&mut rooms, message("general", 1, None));
        let history = History {
            room: room("dev"),
            messages: vec![message("dev", 1, None), message("dev", 2, None)],
            reset: false,
            more: false,
        };
        apply_history(&mut rooms, history);
        append(&mut rooms, message("dev", 3, None));
        append(&mut rooms, message("dev", 3, None));
        assert_eq!(ids(&rooms, "dev"), [1, 2, 3]);
        assert_eq!(ids(&rooms, "general"), [1]);
        let reset = History {
            room: room("dev"),
            messages: vec![message("dev", 9, None)],
            reset: true,
            more: true,
        };
        apply_history(&mut rooms, reset);
        assert_eq!(ids(&rooms, "dev"), [9]);
        assert!(rooms[&room("dev")].more_before);
        assert_eq!(order(&rooms), [room("general"), room("dev")]);
    }

    #[test]
    fn unread_counts_after_the_mark_without_my_own_and_what_is_not_held() {
        let mut rooms = Rooms::new();
        for id in 5..=9 {
            append(&mut rooms, message("dev", id, (id == 8).then_some("me")));
        }
        let dev = room("dev");
        assert!(mark_read(&mut rooms, &dev, MessageId(6)));
        assert!(!mark_read(&mut rooms, &dev, MessageId(4)), "never back");
        let mine = |m: &ChatMessage| m.user_id.as_deref() == Some("me");
        assert_eq!(rooms[&dev].unread(mine), 2, "7 and 9");
        rooms.get_mut(&dev).unwrap().last_read = 2;
        assert_eq!(rooms[&dev].unread(mine), 4 + 2, "5..9 but 8, and 3..4");
    }

    #[test]
    fn the_servers_room_list_wins_but_the_open_room_stays() {
        let mut rooms = Rooms::new();
        append(&mut rooms, message("old", 1, None));
        append(&mut rooms, message("open", 1, None));
        let states = vec![
            RoomState {
                room: room("general"),
                last_read: 3,
            },
            RoomState {
                room: room("dev"),
                last_read: 0,
            },
        ];
        welcome(&mut rooms, states, &room("open"));
        assert_eq!(order(&rooms), [room("general"), room("dev"), room("open")]);
        assert_eq!(rooms[&room("general")].last_read, 3);
    }

    #[test]
    fn arrivals_and_departures_are_noted_after_the_first_list() {
        let mut rooms = Rooms::new();
        let dev = room("dev");
        rooms.insert(dev.clone(), Room::default());
        let member = |id: &str, name: &str| Member {
            user_id: id.into(),
            name: UserName::parse(name).unwrap(),
        };
        let list = |members: Vec<Member>| Presence {
            room: dev.clone(),
            count: members.len(),
            members,
        };
        presence(&mut rooms, list(vec![member("a", "Ann")]));
        assert_eq!(rooms[&dev].change, None);
        presence(
            &mut rooms,
            list(vec![member("a", "Ann"), member("b", "Bob")]),
        );
        assert_eq!(rooms[&dev].change.as_deref(), Some("Bob joined"));
        presence(&mut rooms, list(vec![member("b", "Bob")]));
        assert_eq!(rooms[&dev].change.as_deref(), Some("Ann left"));
    }

    #[test]
    fn typing_shows_for_a_while_and_stops_with_the_message() {
        let mut rooms = Rooms::new();
        let dev = room("dev");
        rooms.insert(dev.clone(), Room::default());
        let typist = |id: &str| Typing {
            room: dev.clone(),
            user_id: id.into(),
            name: UserName::parse("Ann").unwrap(),
        };
        typing(&mut rooms, typist("me"), Some("me"), 10.0);
        assert!(rooms[&dev].typing.is_empty(), "not myself");
        typing(&mut rooms, typist("a"), Some("me"), 10.0);
        assert_eq!(typing_line(&rooms[&dev].typing).unwrap(), "Ann is typing…");
        assert!(!expire_typing(&mut rooms, 5.0));
        append(&mut rooms, message("dev", 1, Some("a")));
        assert!(rooms[&dev].typing.is_empty());
        typing(&mut rooms, typist("a"), None, 10.0);
        assert!(expire_typing(&mut rooms, 11.0));
        assert!(rooms[&dev].typing.is_empty());
    }
}
