use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use shared::events::{CHAT_ERROR, NEW_MESSAGE};
use shared::{ChatError, MessageBody, NewMessage, SendOutcome, UserName};
use socketioxide::ParserError;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::identify::Identity;
use super::rate_limit::TokenBucket;
use super::refusal::Refusal;
use super::sequencer::Overloaded;
use super::{Hub, botmaster};

/// A socket joined: give it its own rate limit and listen for its messages.
pub(super) async fn on_connect(socket: SocketRef, io: SocketIo, State(hub): State<Hub>) {
    tracing::debug!(sid = %socket.id, "connected");
    let bucket = Arc::new(Mutex::new(TokenBucket::new(hub.rate_limit, Instant::now())));
    if let Some(user) = socket.extensions.get::<Identity>().and_then(|id| id.user) {
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
                Ok((user, body)) => {
                    if let Err(Overloaded(ack)) = hub.sequencer.publish(user, body, ack) {
                        refuse(&socket, &Refusal::Overloaded, ack);
                    }
                }
                Err(refusal) => refuse(&socket, &refusal, ack),
            }
            ready(())
        },
    );
    socket.on_disconnect(async |socket: SocketRef| {
        tracing::debug!(sid = %socket.id, "disconnected");
    });
}

/// Decides whether a message may be published: well-formed, valid, and
/// within the sender's rate. Refused messages do not use up the rate.
fn check(
    data: Result<NewMessage, ParserError>,
    bucket: &Mutex<TokenBucket>,
) -> Result<(UserName, MessageBody), Refusal> {
    let message = data.map_err(|_| Refusal::Malformed)?;
    let valid = message.validate()?;
    let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
    if bucket.try_take(Instant::now()) {
        Ok(valid)
    } else {
        Err(Refusal::RateLimited)
    }
}

/// Tells the sender, and only the sender, why its message was refused.
fn refuse(socket: &SocketRef, refusal: &Refusal, ack: AckSender) {
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
