//! Who a socket is, decided before it joins (by the connect middleware,
//! `handlers::connecting`).
//!
//! A socket proves a user id with `auth: {token}` (from `POST /api/session`).
//! Botmaster's clients name theirs with `?botmasterUserId=ID`, which is
//! believed only when it matches the token, or when the server runs with
//! `--insecure-trust-client-ids` for Botmaster's original clients. With
//! neither, the socket is anonymous: the group chat works, Botmaster mode does not.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::SocketRef;
use thiserror::Error;

use super::Hub;
use crate::identity::UserId;
use crate::limits::{Client, ClientAddress, Slot};
use shared::MAX_ROOMS_PER_USER;
use shared::RoomName;

/// Who a socket is, stored in its extensions by [`identify`].
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// Where it connects from, and the proven (or, with the insecure flag,
    /// claimed) user; no user for anonymous sockets.
    pub(super) client: Client,
    /// Its place among its address's sessions, given back when it goes.
    pub(super) _session: Arc<Slot>,
    /// The id of the last message the client has in each room (`auth:
    /// {lastId}` for `general`, `auth: {rooms: {"dev": 12}}` for any), so it
    /// gets what it missed; rooms it has nothing of are absent.
    pub(super) last_ids: HashMap<RoomName, u64>,
}

/// Why a connection was refused; sent to the client as CONNECT_ERROR.
#[derive(Debug, Error)]
pub(super) enum Refused {
    /// The token is forged, expired by a new secret, or malformed.
    #[error("invalid session token")]
    BadToken,
    /// `auth.token` is there but is not a string.
    #[error("auth.token must be a string (the token from POST /api/session)")]
    TokenNotString,
    /// `auth.lastId` is there but is not a whole number.
    #[error("auth.lastId must be a whole number (the id of the last message the client has)")]
    LastIdNotNumber,
    /// The address already holds as many sessions as one address may.
    #[error("too many connections from your address; close some and try again")]
    TooManySessions,
    /// `botmasterUserId` names someone else than the token.
    #[error("botmasterUserId does not match the session token")]
    Mismatch,
    /// `botmasterUserId` without a token, and the server does not trust claims.
    #[error(
        "botmasterUserId needs a session token: POST /api/session, then connect with auth {{token}}"
    )]
    Unproven,
}

/// Who `socket` is, from its CONNECT payload `auth` and its handshake; the
/// connect middleware ([`handlers::connecting`](super::handlers::connecting))
/// refuses it with the error.
pub(super) fn identify(
    socket: &SocketRef,
    hub: &Hub,
    auth: Option<Value>,
) -> Result<Identity, Refused> {
    let user = decide(
        hub,
        token(auth.as_ref())?,
        claimed_id(socket.req_parts().uri.query()),
    )?;
    let mut last_ids = last_ids(auth.as_ref());
    match auth.as_ref().and_then(|auth| auth.get("lastId")) {
        None | Some(Value::Null) => {}
        Some(id) => {
            let id = id.as_u64().ok_or(Refused::LastIdNotNumber)?;
            last_ids.insert(RoomName::general(), id);
        }
    }
    let address = client_address(socket);
    let session = hub
        .sessions
        .open(Some(address))
        .map_err(|_| Refused::TooManySessions)?;
    Ok(Identity {
        client: Client { address, user },
        _session: Arc::new(session),
        last_ids,
    })
}

/// The client address the accept loop gave the request that opened the
/// session; a server run without that loop (none today) counts everyone
/// as one address.
fn client_address(socket: &SocketRef) -> ClientAddress {
    socket
        .req_parts()
        .extensions
        .get::<ClientAddress>()
        .copied()
        .unwrap_or(ClientAddress::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
}

/// `auth.token`: absent (or null) is anonymous; anything but a string is refused.
fn token(auth: Option<&Value>) -> Result<Option<String>, Refused> {
    match auth.and_then(|auth| auth.get("token")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) => Ok(Some(token.clone())),
        Some(_) => Err(Refused::TokenNotString),
    }
}

/// `botmasterUserId` from the handshake's query string, as given.
fn claimed_id(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("botmasterUserId="))
        .map(str::to_owned)
}

fn decide(
    hub: &Hub,
    token: Option<String>,
    claimed: Option<String>,
) -> Result<Option<UserId>, Refused> {
    let user = match (token, claimed) {
        (Some(token), claimed) => {
            let user = hub.signer.verify(&token).map_err(|_| Refused::BadToken)?;
            if claimed.is_some_and(|claimed| claimed != user.as_str()) {
                return Err(Refused::Mismatch);
            }
            Some(user)
        }
        (None, Some(claimed)) if hub.trust_client_ids => {
            Some(UserId::parse(&claimed).map_err(|_| Refused::Unproven)?)
        }
        (None, Some(_)) => return Err(Refused::Unproven),
        (None, None) => None,
    };
    Ok(user)
}

/// The last ids a page says it has, from `auth.rooms` (`{"dev": 12}`) and
/// `auth.lastId` (for `general`); at most [`MAX_ROOMS_PER_USER`], the rest
/// and anything unreadable ignored (those rooms start from their latest page).
fn last_ids(auth: Option<&serde_json::Value>) -> HashMap<RoomName, u64> {
    let rooms = auth
        .and_then(|auth| auth.get("rooms"))
        .and_then(serde_json::Value::as_object);
    rooms
        .into_iter()
        .flatten()
        .filter_map(|(room, id)| Some((RoomName::parse(room).ok()?, id.as_u64()?)))
        .take(MAX_ROOMS_PER_USER)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_says_what_it_has_per_room() {
        let auth = serde_json::json!({"rooms": {"dev": 3, "bad name": 4, "ops": "x"}});
        let ids = last_ids(Some(&auth));
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[&RoomName::parse("dev").unwrap()], 3);
    }
}
