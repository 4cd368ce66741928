use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use shared::events::{CHAT_ERROR, NEW_MESSAGE, OLDER};
use shared::{
    ChatError, ClientMessageId, MessageBody, NewMessage, OlderRequest, SendOutcome, UserName,
};
use socketioxide::ParserError;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::identify::Identity;
use super::rate_limit::TokenBucket;
use super::refusal::Refusal;
use super::sequencer::{Overloaded, recent};
use super::{Hub, botmaster};

/// A socket joined: give it its own rate limit and listen for its messages.
pub(super) async fn on_connect(socket: SocketRef, io: SocketIo, State(hub): State<Hub>) {
    tracing::debug!(sid = %socket.id, "connected");
    let bucket = Arc::new(Mutex::new(TokenBucket::new(hub.rate_limit, Instant::now())));
    let identity = socket.extensions.get::<Identity>();
    if let Some(user) = identity.as_ref().and_then(|id| id.user.clone()) {
        botmaster::attach(&socket, io, hub.clone(), user, bucket.clone());
    }
    // The handler does its work before returning a finished future: socketioxide
    // calls handlers in the order messages arrive but runs their async bodies
    // as parallel tasks, and a chat must keep each sender's order.
    socket.on(
        NEW_MESSAGE,
        move |socket: SocketRef,
              State(hub): State<Hub>,
              TryData(data): TryData<NewMessage>,
              ack: AckSender|
              -> Ready<()> {
            match check(data, &bucket) {
                Ok((valid, client_id)) => {
                    let published = hub.sequencer.publish(valid, client_id, socket.clone(), ack);
                    if let Err(Overloaded(ack)) = published {
                        refuse(&socket, &Refusal::Overloaded, ack);
                    }
                }
                Err(refusal) => refuse(&socket, &refusal, ack),
            }
            ready(())
        },
    );
    socket.on(
        OLDER,
        async |socket: SocketRef,
               State(hub): State<Hub>,
               TryData(request): TryData<OlderRequest>,
               ack: AckSender| {
            let Ok(OlderRequest { before }) = request else {
                let error = ChatError::from(&Refusal::Malformed);
                let _ = ack.send(&SendOutcome::Rejected(error));
                return;
            };
            let store = hub.store.clone();
            let history =
                tokio::task::spawn_blocking(move || recent(store.as_ref(), before.0)).await;
            match history {
                Ok(Ok(history)) => {
                    if let Err(error) = ack.send(&history) {
                        tracing::debug!(sid = %socket.id, %error, "cannot send older messages");
                    }
                }
                _ => {
                    tracing::error!("cannot read older messages");
                    let error = ChatError::from(&Refusal::Unavailable);
                    let _ = ack.send(&SendOutcome::Rejected(error));
                }
            }
        },
    );
    socket.on_disconnect(async |socket: SocketRef| {
        tracing::debug!(sid = %socket.id, "disconnected");
    });
    // After the handlers, so nothing the client sends meanwhile is missed: a
    // message it publishes before joining comes back in its history.
    let last_id = identity.and_then(|id| id.last_id);
    hub.sequencer.join(socket, last_id).await;
}

/// Decides whether a message may be published: well-formed, valid, and
/// within the sender's rate. Refused messages do not use up the rate.
fn check(
    data: Result<NewMessage, ParserError>,
    bucket: &Mutex<TokenBucket>,
) -> Result<((UserName, MessageBody), Option<ClientMessageId>), Refusal> {
    let message = data.map_err(|_| Refusal::Malformed)?;
    let valid = message.validate()?;
    let client_id = message.client_id()?;
    let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
    if bucket.try_take(Instant::now()) {
        Ok((valid, client_id))
    } else {
        Err(Refusal::RateLimited)
    }
}

/// Tells the sender, and only the sender, why its message was refused.
pub(super) fn refuse(socket: &SocketRef, refusal: &Refusal, ack: AckSender) {
    tracing::debug!(sid = %socket.id, %refusal, "message refused");
    let error = ChatError::from(refusal);
    if let Err(error) = socket.emit(CHAT_ERROR, &error) {
        tracing::debug!(sid = %socket.id, %error, "cannot report a refusal");
    }
    // Sending does nothing when the client did not ask for an ack.
    if let Err(error) = ack.send(&SendOutcome::Rejected(error)) {
        tracing::debug!(sid = %socket.id, %error, "cannot send ack");
    }
}
