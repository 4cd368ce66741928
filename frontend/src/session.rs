//! This browser's user: an id and the token proving it, from
//! `POST /api/session`, kept in local storage so every tab of the browser is
//! the same user and sees the same bot conversation.

use gloo_net::http::Request;
use serde::{Deserialize, Serialize};

const STORAGE_KEY: &str = "chat.session";

/// A user id and its token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The user's id.
    pub user_id: String,
    /// Proof of it, sent as the Socket.IO auth payload.
    pub token: String,
}

/// The stored session, or a new one from the server; `None` if neither is
/// available (the group chat still works, anonymously).
pub async fn load_or_create() -> Option<Session> {
    let storage = web_sys::window()?.local_storage().ok().flatten();
    if let Some(stored) = storage
        .as_ref()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .and_then(|json| serde_json::from_str::<Session>(&json).ok())
    {
        return Some(stored);
    }
    let response = Request::post("/api/session").send().await.ok()?;
    if !response.ok() {
        return None;
    }
    let session: Session = response.json().await.ok()?;
    if let (Some(storage), Ok(json)) = (storage, serde_json::to_string(&session)) {
        let _ = storage.set_item(STORAGE_KEY, &json);
    }
    Some(session)
}

/// Forgets the stored session, after the server refused its token (its
/// secret changed, say); the next page load gets a new one.
pub fn forget() {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.remove_item(STORAGE_KEY);
    }
}
