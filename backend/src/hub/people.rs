//! Who is connected: each session user's display name while any of their
//! sockets is open, and who is in each group room now, every user once
//! however many tabs they have there.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use shared::{MAX_MEMBERS_LISTED, Member, Presence, RoomName, UserName};

use crate::identity::UserId;

/// The connected users and the rooms' members. A cheap `Clone` handle.
#[derive(Debug, Clone, Default)]
pub(super) struct People {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<UserId, Person>,
    /// Room → user → that user's sockets in the room. Ordered by user id, so
    /// a capped list is the same on every call.
    rooms: HashMap<RoomName, BTreeMap<UserId, usize>>,
}

#[derive(Debug)]
struct Person {
    name: Option<UserName>,
    sockets: usize,
}

impl People {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A socket of `user` opened; `stored` is the name the store has for
    /// them, taken unless a socket of theirs already knows a newer one.
    pub(super) fn arrive(&self, user: &UserId, stored: Option<UserName>) {
        let mut inner = self.lock();
        let person = inner.users.entry(user.clone()).or_insert(Person {
            name: None,
            sockets: 0,
        });
        person.sockets += 1;
        if person.name.is_none() {
            person.name = stored;
        }
    }

    /// A socket of `user` closed; they are forgotten with their last one.
    pub(super) fn depart(&self, user: &UserId) {
        let mut inner = self.lock();
        if let Some(person) = inner.users.get_mut(user) {
            person.sockets = person.sockets.saturating_sub(1);
            if person.sockets == 0 {
                inner.users.remove(user);
            }
        }
    }

    /// `user`'s display name, while connected and once chosen.
    pub(super) fn name(&self, user: &UserId) -> Option<UserName> {
        self.lock().users.get(user).and_then(|p| p.name.clone())
    }

    /// Gives `user` a new name; returns the rooms they are in now, whose
    /// member lists change.
    pub(super) fn rename(&self, user: &UserId, name: UserName) -> Vec<RoomName> {
        let mut inner = self.lock();
        if let Some(person) = inner.users.get_mut(user) {
            person.name = Some(name);
        }
        inner
            .rooms
            .iter()
            .filter(|(_, members)| members.contains_key(user))
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// A socket of `user` entered `room`; true when it is the user's first there.
    pub(super) fn enter(&self, room: &RoomName, user: &UserId) -> bool {
        let mut inner = self.lock();
        let sockets = inner
            .rooms
            .entry(room.clone())
            .or_default()
            .entry(user.clone())
            .or_insert(0);
        *sockets += 1;
        *sockets == 1
    }

    /// A socket of `user` left `room`; true when it was the user's last there.
    pub(super) fn exit(&self, room: &RoomName, user: &UserId) -> bool {
        let mut inner = self.lock();
        let Some(members) = inner.rooms.get_mut(room) else {
            return false;
        };
        let Some(sockets) = members.get_mut(user) else {
            return false;
        };
        *sockets -= 1;
        if *sockets > 0 {
            return false;
        }
        members.remove(user);
        if members.is_empty() {
            inner.rooms.remove(room);
        }
        true
    }

    /// Who is in `room` now: users with a name, at most [`MAX_MEMBERS_LISTED`].
    pub(super) fn presence(&self, room: &RoomName) -> Presence {
        let inner = self.lock();
        let named = |user: &UserId| {
            let name = inner.users.get(user)?.name.clone()?;
            Some(Member {
                user_id: user.as_str().to_owned(),
                name,
            })
        };
        let members = inner.rooms.get(room);
        Presence {
            room: room.clone(),
            members: members
                .into_iter()
                .flat_map(BTreeMap::keys)
                .filter_map(named)
                .take(MAX_MEMBERS_LISTED)
                .collect(),
            count: members.map_or(0, BTreeMap::len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn name(text: &str) -> UserName {
        UserName::parse(text).unwrap()
    }

    #[test]
    fn every_user_counts_once_however_many_tabs() {
        let people = People::default();
        let (ann, bob, dev) = (user("ann"), user("bob"), RoomName::parse("dev").unwrap());
        people.arrive(&ann, Some(name("Ann")));
        people.arrive(&ann, None);
        people.arrive(&bob, Some(name("Bob")));
        assert!(people.enter(&dev, &ann));
        assert!(!people.enter(&dev, &ann), "a second tab is no arrival");
        assert!(people.enter(&dev, &bob));
        let presence = people.presence(&dev);
        assert_eq!(presence.count, 2);
        let names: Vec<&str> = presence.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Ann", "Bob"]);
        assert!(!people.exit(&dev, &ann), "one tab of Ann's is still there");
        assert!(people.exit(&dev, &ann));
        assert_eq!(people.presence(&dev).count, 1);
        assert!(people.exit(&dev, &bob));
        assert_eq!(people.presence(&dev).count, 0);
        assert!(!people.exit(&dev, &bob), "leaving twice changes nothing");
    }

    #[test]
    fn a_name_lives_while_a_socket_does_and_follows_renames() {
        let people = People::default();
        let (ann, dev) = (user("ann"), RoomName::parse("dev").unwrap());
        people.arrive(&ann, Some(name("Ann")));
        people.enter(&dev, &ann);
        assert_eq!(people.rename(&ann, name("Annie")), [dev]);
        people.arrive(&ann, Some(name("Ann")));
        assert_eq!(
            people.name(&ann),
            Some(name("Annie")),
            "the newer name wins"
        );
        people.depart(&ann);
        people.depart(&ann);
        assert_eq!(people.name(&ann), None);
    }
}
