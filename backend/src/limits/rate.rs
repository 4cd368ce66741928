//! How fast one client may act: token buckets (GCRA, from `governor`) keyed
//! on the client, so that new sockets, new tabs or reconnects do not start
//! a client afresh.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota};

use super::address::ClientAddress;
use crate::identity::UserId;

/// A user's sockets share the user's allowance; an address may carry
/// several people (an office, a household), so it gets this many times a
/// person's allowance of messages and reads on top.
const PEOPLE_PER_ADDRESS: u32 = 4;

/// How fast one client may act. Every rate is per second on average, after
/// a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Chat messages (group and private) in a burst. Default 10.
    pub message_burst: u32,
    /// Chat messages per second after the burst. Default 2.
    pub messages_per_second: f64,
    /// Requests for older messages in a burst. Default 20.
    pub older_burst: u32,
    /// Requests for older messages per second after the burst. Default 4.
    pub older_per_second: f64,
    /// New sessions (Engine.IO handshakes) and new user ids (`POST
    /// /api/session`) per address in a burst. Default 30.
    pub connect_burst: u32,
    /// New sessions and user ids per address per second after the burst. Default 1.
    pub connects_per_second: f64,
    /// Bytes of messages one client may have stored per minute. Default 256 KiB.
    pub store_bytes_per_minute: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            message_burst: 10,
            messages_per_second: 2.0,
            older_burst: 20,
            older_per_second: 4.0,
            connect_burst: 30,
            connects_per_second: 1.0,
            store_bytes_per_minute: 256 * 1024,
        }
    }
}

/// Who is asking: the address, and the user when the socket proved one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Where the client connects from.
    pub address: ClientAddress,
    /// The user the client proved (a session token), if any.
    pub user: Option<UserId>,
}

/// What a client may be refused for going too fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A chat message, in the group chat or the private conversation.
    Message,
    /// A page of older messages.
    Older,
    /// A new Engine.IO session.
    Connect,
    /// A new user id and token.
    NewSession,
    /// A passing signal: a read mark, "typing", a join or a rename.
    Signal,
    /// A new group room.
    NewRoom,
}

/// Signals (read marks, typing, joins, renames) a person may send at once,
/// and per second after: a page sends a few per message read or typed.
const SIGNAL_BURST: u32 = 30;
const SIGNALS_PER_SECOND: f64 = 5.0;

/// Rooms one person (or anonymous address) may create at once, and per
/// second after: 5, then one a minute.
const ROOM_BURST: u32 = 5;
const ROOMS_PER_SECOND: f64 = 1.0 / 60.0;

/// Too fast: the client may try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds to wait, at least 1: what `Retry-After` and messages say.
    pub fn seconds(self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }

    /// Milliseconds to wait, for clients that retry by themselves.
    pub fn millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A limiter keyed on whoever it counts.
type Keyed<K> = DefaultKeyedRateLimiter<K>;

/// Who a per-person bucket belongs to: the user, or for anonymous sockets
/// the address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Person {
    User(UserId),
    Anonymous(ClientAddress),
}

/// Every client's buckets. Shared by all sockets and requests.
#[derive(Debug)]
pub struct RateLimits {
    messages: Keyed<Person>,
    address_messages: Keyed<ClientAddress>,
    older: Keyed<Person>,
    address_older: Keyed<ClientAddress>,
    connects: Keyed<ClientAddress>,
    new_sessions: Keyed<ClientAddress>,
    signals: Keyed<Person>,
    new_rooms: Keyed<Person>,
    stored_bytes: Keyed<Person>,
    store_burst: NonZeroU32,
}

/// A quota of `burst` at once, refilled at `per_second`. Zero or negative
/// rates are taken as the smallest positive ones: a limit is never "none".
fn quota(burst: u32, per_second: f64) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let per_second = if per_second.is_finite() && per_second > 0.0 {
        per_second
    } else {
        f64::MIN_POSITIVE
    };
    let period = Duration::try_from_secs_f64(1.0 / per_second)
        .unwrap_or(Duration::MAX)
        .max(Duration::from_nanos(1));
    Quota::with_period(period)
        .expect("the period is positive")
        .allow_burst(burst)
}

impl RateLimits {
    /// Empty buckets for `rates`.
    pub fn new(rates: &Rates) -> Self {
        let people = |burst: u32| burst.saturating_mul(PEOPLE_PER_ADDRESS);
        let people_rate = |rate: f64| rate * f64::from(PEOPLE_PER_ADDRESS);
        // A minute's bytes may be stored at once (a burst of long messages).
        let store_burst = NonZeroU32::new(rates.store_bytes_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            messages: Keyed::hashmap(quota(rates.message_burst, rates.messages_per_second)),
            address_messages: Keyed::hashmap(quota(
                people(rates.message_burst),
                people_rate(rates.messages_per_second),
            )),
            older: Keyed::hashmap(quota(rates.older_burst, rates.older_per_second)),
            address_older: Keyed::hashmap(quota(
                people(rates.older_burst),
                people_rate(rates.older_per_second),
            )),
            connects: Keyed::hashmap(quota(rates.connect_burst, rates.connects_per_second)),
            new_sessions: Keyed::hashmap(quota(rates.connect_burst, rates.connects_per_second)),
            signals: Keyed::hashmap(quota(SIGNAL_BURST, SIGNALS_PER_SECOND)),
            new_rooms: Keyed::hashmap(quota(ROOM_BURST, ROOMS_PER_SECOND)),
            stored_bytes: Keyed::hashmap(quota(
                store_burst.get(),
                f64::from(store_burst.get()) / 60.0,
            )),
            store_burst,
        }
    }

    /// Takes one `action` from `client`'s buckets, or says when to retry.
    /// A refusal takes nothing.
    pub fn check(&self, action: Action, client: &Client) -> Result<(), RetryAfter> {
        let person = person(client);
        match action {
            Action::Message => both(
                &self.address_messages,
                &client.address,
                &self.messages,
                &person,
            ),
            Action::Older => both(&self.address_older, &client.address, &self.older, &person),
            Action::Connect => one(&self.connects, &client.address),
            Action::NewSession => one(&self.new_sessions, &client.address),
            Action::Signal => one(&self.signals, &person),
            Action::NewRoom => one(&self.new_rooms, &person),
        }
    }

    /// Takes `bytes` of the client's storage allowance, or says when to retry.
    pub fn store(&self, client: &Client, bytes: usize) -> Result<(), RetryAfter> {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX).max(1);
        // More than a minute's worth at once can never pass; it waits a minute.
        let Some(bytes) = NonZeroU32::new(bytes).filter(|b| *b <= self.store_burst) else {
            return Err(RetryAfter(Duration::from_secs(60)));
        };
        match self.stored_bytes.check_key_n(&person(client), bytes) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(retry_after(&not_until)),
            Err(_) => Err(RetryAfter(Duration::from_secs(60))),
        }
    }

    /// Forgets clients whose buckets are full again, so memory follows the
    /// clients active lately, not every client ever seen.
    pub fn forget_idle(&self) {
        forget(&self.messages);
        forget(&self.address_messages);
        forget(&self.older);
        forget(&self.address_older);
        forget(&self.connects);
        forget(&self.new_sessions);
        forget(&self.signals);
        forget(&self.new_rooms);
        forget(&self.stored_bytes);
    }
}

fn person(client: &Client) -> Person {
    match &client.user {
        Some(user) => Person::User(user.clone()),
        None => Person::Anonymous(client.address),
    }
}

fn one<K: std::hash::Hash + Eq + Clone>(limiter: &Keyed<K>, key: &K) -> Result<(), RetryAfter> {
    limiter
        .check_key(key)
        .map_err(|not_until| retry_after(&not_until))
}

/// How long until a refused bucket has room again.
fn retry_after(not_until: &NotUntil<<DefaultClock as Clock>::Instant>) -> RetryAfter {
    RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))
}

/// Drops the keys of `limiter` whose buckets are full again, and the room they took.
fn forget<K: std::hash::Hash + Eq + Clone>(limiter: &Keyed<K>) {
    limiter.retain_recent();
    limiter.shrink_to_fit();
}

/// Checks the person's bucket, then the address's; a refusal by the address
/// gives back nothing the person's bucket took, which is the stricter side.
fn both(
    address_limiter: &Keyed<ClientAddress>,
    address: &ClientAddress,
    person_limiter: &Keyed<Person>,
    person: &Person,
) -> Result<(), RetryAfter> {
    one(person_limiter, person)?;
    one(address_limiter, address)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn client(ip: &str, user: Option<&str>) -> Client {
        Client {
            address: ClientAddress::new(ip.parse::<IpAddr>().unwrap()),
            user: user.map(|u| UserId::parse(u).unwrap()),
        }
    }

    fn rates() -> Rates {
        Rates {
            message_burst: 3,
            messages_per_second: 0.001,
            ..Rates::default()
        }
    }

    #[test]
    fn a_burst_passes_then_the_client_is_told_when_to_retry() {
        let limits = RateLimits::new(&rates());
        let ann = client("192.0.2.1", None);
        assert!((0..3).all(|_| limits.check(Action::Message, &ann).is_ok()));
        let refused = limits.check(Action::Message, &ann).unwrap_err();
        assert!(refused.seconds() > 900, "{refused:?}");
    }

    #[test]
    fn a_users_tabs_share_one_allowance_and_other_users_have_their_own() {
        let limits = RateLimits::new(&rates());
        let tab = client("192.0.2.1", Some("ann"));
        let other_tab = client("198.51.100.1", Some("ann"));
        assert!((0..3).all(|_| limits.check(Action::Message, &tab).is_ok()));
        assert!(limits.check(Action::Message, &other_tab).is_err());
        assert!(
            limits
                .check(Action::Message, &client("192.0.2.1", Some("bob")))
                .is_ok()
        );
    }

    #[test]
    fn an_address_carries_a_few_people_but_not_an_army_of_new_users() {
        let limits = RateLimits::new(&rates());
        let accepted = (0..100)
            .map(|n| client("192.0.2.7", Some(&format!("user{n}"))))
            .filter(|c| limits.check(Action::Message, c).is_ok())
            .count();
        assert_eq!(accepted, 3 * PEOPLE_PER_ADDRESS as usize);
    }

    #[test]
    fn storage_is_counted_in_bytes_per_minute() {
        let limits = RateLimits::new(&Rates {
            store_bytes_per_minute: 1000,
            ..Rates::default()
        });
        let ann = client("192.0.2.1", None);
        assert!(limits.store(&ann, 600).is_ok());
        let refused = limits.store(&ann, 600).unwrap_err();
        assert!((10..=60).contains(&refused.seconds()), "{refused:?}");
        assert!(limits.store(&ann, 5000).is_err());
        assert!(limits.store(&client("192.0.2.2", None), 1000).is_ok());
    }
}
