//! Messages sent but not yet acknowledged by the server, kept in local
//! storage so they survive a reload and are sent again. Each carries the id
//! the page made up for it; the server stores a message once per id, so
//! sending one again never shows it twice.
//!
//! Tabs of one browser share the outbox: each reads it, changes its own
//! entries and writes it back at once, and any tab may resend any entry.

use serde::{Deserialize, Serialize};

const STORAGE_KEY: &str = "chat.outbox";

/// A message waiting for the server's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The page's id for it, sent as `client_id`.
    pub client_id: String,
    /// The name it is sent under.
    pub user: String,
    /// The text.
    pub body: String,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// What is waiting, oldest first.
pub fn load() -> Vec<Pending> {
    storage()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Adds `pending` (if not there already) and returns the whole outbox.
pub fn add(pending: Pending) -> Vec<Pending> {
    update(|list| {
        if !list.iter().any(|p| p.client_id == pending.client_id) {
            list.push(pending);
        }
    })
}

/// Removes the message with `client_id` and returns the whole outbox.
pub fn remove(client_id: &str) -> Vec<Pending> {
    update(|list| list.retain(|p| p.client_id != client_id))
}

fn update(change: impl FnOnce(&mut Vec<Pending>)) -> Vec<Pending> {
    let mut list = load();
    change(&mut list);
    if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(&list)) {
        let _ = storage.set_item(STORAGE_KEY, &json);
    }
    list
}

/// A new id for a message: 128 random bits from the browser's generator,
/// in hex. Collisions only matter within one chat room's history.
pub fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
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
