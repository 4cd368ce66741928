//! `POST /api/session`: a new user id and the token that proves it.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::identity::{Signer, UserId};

/// What the endpoint answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Session {
    /// The new user's id; Botmaster mode calls it `botmasterUserId`.
    user_id: String,
    /// Connect with `auth: {token}` to be this user.
    token: String,
}

/// Issues a session for a new anonymous user.
pub(crate) async fn create(State(signer): State<Signer>) -> Json<Session> {
    let user = UserId::random();
    Json(Session {
        token: signer.issue(&user),
        user_id: user.as_str().to_owned(),
    })
}
