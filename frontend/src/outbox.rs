//! Messages sent but not yet acknowledged by the server, kept in local
//! storage so they survive a reload and are sent again. Each carries the id
//! the page made up for it; the server stores a message once per id, so
//! sending one again never shows it twice.
//!
//! Tabs of one browser share an outbox: each reads it, changes its own
//! entries and writes it back at once, and any tab may resend any entry.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared::{BotmasterInput, RoomName};

/// Something an outbox holds.
pub trait Queued: Serialize + DeserializeOwned + Clone {
    /// The page's id for it, sent as `client_id`.
    fn client_id(&self) -> &str;
}

/// A group message waiting for the server's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The page's id for it, sent as `client_id`.
    pub client_id: String,
    /// The name it is sent under.
    pub user: String,
    /// The text.
    pub body: String,
    /// The room it is for.
    #[serde(default)]
    pub room: RoomName,
}

impl Queued for Pending {
    fn client_id(&self) -> &str {
        &self.client_id
    }
}

/// A message to the bot waiting for the server's acknowledgement; its
/// `client_id` is always set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPrivate(pub BotmasterInput);

impl Queued for PendingPrivate {
    fn client_id(&self) -> &str {
        self.0.client_id.as_deref().unwrap_or_default()
    }
}

/// One outbox in local storage.
#[derive(Debug)]
pub struct Outbox<T> {
    key: &'static str,
    item: PhantomData<fn() -> T>,
}

// Not derived: a derive would ask `T: Copy`, and only the key is copied.
impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Outbox<T> {}

/// The group chat's outbox.
pub const GROUP: Outbox<Pending> = Outbox::new("chat.outbox");

/// The private conversation's outbox.
pub const PRIVATE: Outbox<PendingPrivate> = Outbox::new("chat.botoutbox");

impl<T: Queued> Outbox<T> {
    const fn new(key: &'static str) -> Self {
        Self {
            key,
            item: PhantomData,
        }
    }

    /// What is waiting, oldest first.
    pub fn load(self) -> Vec<T> {
        storage()
            .and_then(|s| s.get_item(self.key).ok().flatten())
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    /// Adds `item` (if not there already) and returns the whole outbox.
    pub fn add(self, item: T) -> Vec<T> {
        self.update(|list| {
            if !list.iter().any(|p| p.client_id() == item.client_id()) {
                list.push(item);
            }
        })
    }

    /// Removes the entry with `client_id` and returns the whole outbox.
    pub fn remove(self, client_id: &str) -> Vec<T> {
        self.update(|list| list.retain(|p| p.client_id() != client_id))
    }

    fn update(self, change: impl FnOnce(&mut Vec<T>)) -> Vec<T> {
        let mut list = self.load();
        change(&mut list);
        if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(&list)) {
            let _ = storage.set_item(self.key, &json);
        }
        list
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Where this browser keeps the prefix of its message ids.
const BROWSER_KEY: &str = "chat-browser-id";

/// A new id for a message: this browser's own prefix (see [`is_mine`]), then
/// 128 random bits, in hex. Collisions only matter within one room's history.
pub fn new_client_id() -> String {
    format!("{}-{}", browser_id(), random_hex(16))
}

/// Whether a message with this client id was sent from this browser (any of
/// its tabs), so the page can set the reader's own messages apart.
pub fn is_mine(client_id: &str) -> bool {
    client_id
        .strip_prefix(&browser_id())
        .is_some_and(|rest| rest.starts_with('-'))
}

/// This browser's 64-bit id, made on first use and kept in local storage.
fn browser_id() -> String {
    thread_local! {
        static ID: String = {
            let stored = storage().and_then(|s| s.get_item(BROWSER_KEY).ok().flatten());
            stored.filter(|id| id.len() == 16).unwrap_or_else(|| {
                let id = random_hex(8);
                if let Some(storage) = storage() {
                    let _ = storage.set_item(BROWSER_KEY, &id);
                }
                id
            })
        };
    }
    ID.with(Clone::clone)
}

/// `len` random bytes from the browser's generator, in hex.
fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    let random = web_sys::window().and_then(|w| w.crypto().ok());
    if let Some(crypto) = random {
        let _ = crypto.get_random_values_with_u8_array(&mut bytes);
    } else {
        for byte in &mut bytes {
            *byte = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
