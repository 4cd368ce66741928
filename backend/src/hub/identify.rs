//! Connect middleware: decides who a socket is before it joins.
//!
//! A socket proves a user id with `auth: {token}` (from `POST /api/session`).
//! Botmaster's clients name theirs with `?botmasterUserId=ID`, which is
//! believed only when it matches the token, or when the server runs with
//! `--insecure-trust-client-ids` for Botmaster's original clients. With
//! neither, the socket is anonymous: the group chat works, Botmaster mode does not.

use serde_json::Value;
use socketioxide::extract::{SocketRef, State, TryData};
use thiserror::Error;

use super::Hub;
use crate::identity::UserId;

/// Who a socket is, stored in its extensions by [`identify`].
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// The proven (or, with the insecure flag, claimed) user; `None` for anonymous sockets.
    pub(super) user: Option<UserId>,
    /// The id of the last group message the client has (`auth: {lastId}`),
    /// so it gets what it missed; `None` for a fresh client.
    pub(super) last_id: Option<u64>,
}

/// Why a connection was refused; sent to the client as CONNECT_ERROR.
#[derive(Debug, Error)]
pub(super) enum Refused {
    /// The token is forged, expired by a new secret, or malformed.
    #[error("invalid session token")]
    BadToken,
    /// `botmasterUserId` names someone else than the token.
    #[error("botmasterUserId does not match the session token")]
    Mismatch,
    /// `botmasterUserId` without a token, and the server does not trust claims.
    #[error(
        "botmasterUserId needs a session token: POST /api/session, then connect with auth {{token}}"
    )]
    Unproven,
}

/// The connect middleware.
pub(super) async fn identify(
    socket: SocketRef,
    State(hub): State<Hub>,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    let auth = auth.ok();
    let user = decide(
        &hub,
        token(auth.as_ref()),
        claimed_id(socket.req_parts().uri.query()),
    )?;
    let last_id = auth.as_ref().and_then(|auth| auth.get("lastId")?.as_u64());
    socket.extensions.insert(Identity { user, last_id });
    Ok(())
}

fn token(auth: Option<&Value>) -> Option<String> {
    auth?.get("token")?.as_str().map(str::to_owned)
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
