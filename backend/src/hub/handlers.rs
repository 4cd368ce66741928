use std::future::{Ready, ready};

use shared::events::{NEW_MESSAGE, OLDER};
use shared::{ChatError, ClientMessageId, MessageBody, NewMessage, OlderRequest, UserName};
use socketioxide::ParserError;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::identify::Identity;
use super::refusal::{Refusal, refuse, reject};
use super::sequencer::{Overloaded, recent};
use super::{Hub, botmaster};
use crate::limits::{Action, Client};

/// A socket joined: listen for its messages, under its client's limits.
pub(super) async fn on_connect(socket: SocketRef, io: SocketIo, State(hub): State<Hub>) {
    tracing::debug!(sid = %socket.id, "connected");
    let Some(identity) = socket.extensions.get::<Identity>() else {
        // The connect middleware always sets it; without it nothing is known.
        let _ = socket.disconnect();
        return;
    };
    if let Some(user) = identity.client.user.clone() {
        botmaster::attach(&socket, io, hub.clone(), user, identity.client.clone());
    }
    // The handler does its work before returning a finished future: socketioxide
    // calls handlers in the order messages arrive but runs their async bodies
    // as parallel tasks, and a chat must keep each sender's order.
    let client = identity.client.clone();
    socket.on(
        NEW_MESSAGE,
        move |socket: SocketRef,
              State(hub): State<Hub>,
              TryData(data): TryData<NewMessage>,
              ack: AckSender|
              -> Ready<()> {
            match check(&hub, &client, data) {
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
    let client = identity.client.clone();
    socket.on(
        OLDER,
        move |socket: SocketRef,
              State(hub): State<Hub>,
              TryData(request): TryData<OlderRequest>,
              ack: AckSender| {
            let client = client.clone();
            async move {
                let before = match request {
                    Ok(OlderRequest { before }) => before,
                    Err(_) => return reject(ack, ChatError::from(&Refusal::MalformedOlder)),
                };
                if let Err(retry) = hub.limits.check(Action::Older, &client) {
                    return reject(ack, ChatError::from(&Refusal::RateLimited(retry)));
                }
                match hub.reads.run(move |store| recent(store, before.0)).await {
                    Ok(history) => {
                        if let Err(error) = ack.send(&history) {
                            tracing::debug!(sid = %socket.id, %error, "cannot send older messages");
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot read older messages");
                        reject(ack, ChatError::from(&Refusal::Unavailable));
                    }
                }
            }
        },
    );
    socket.on_disconnect(async |socket: SocketRef| {
        tracing::debug!(sid = %socket.id, "disconnected");
        // Frees the session's place in its address's count now, not when
        // the last handle to the socket goes.
        socket.extensions.remove::<Identity>();
    });
    // After the handlers, so nothing the client sends meanwhile is missed: a
    // message it publishes before joining comes back in its history.
    hub.sequencer.join(socket, identity.last_id).await;
}

/// Decides whether a message may be published: well-formed, valid, within
/// the sender's rate and its share of the store. Refused messages do not
/// use up the rate.
fn check(
    hub: &Hub,
    client: &Client,
    data: Result<NewMessage, ParserError>,
) -> Result<((UserName, MessageBody), Option<ClientMessageId>), Refusal> {
    let message = data.map_err(|_| Refusal::Malformed)?;
    let (user, body) = message.validate()?;
    let client_id = message.client_id()?;
    hub.limits
        .check(Action::Message, client)
        .map_err(Refusal::RateLimited)?;
    hub.limits
        .store(client, user.as_str().len() + body.as_str().len())
        .map_err(Refusal::StoreQuota)?;
    Ok(((user, body), client_id))
}
