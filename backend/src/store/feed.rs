//! What other nodes stored, as PostgreSQL announces it: one listening
//! connection per node, on the channel `chat_append` notifies, kept open
//! (reconnecting with a growing wait) for as long as anyone reads the feed.
//!
//! A notification only says that a room has a message with some id; the
//! rows themselves are read from the table. After every (re)connection the
//! feed says [`Notice::Resync`], since whatever was committed while it was
//! not listening was announced to nobody.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

/// Notices waiting for the node to take them; the listener waits beyond.
const CAPACITY: usize = 1024;

/// First wait before connecting again.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Longest wait between attempts.
const LAST_RETRY: Duration = Duration::from_secs(2);

/// What the feed says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Room `room` (a store key) has a message with id `id`, committed by
    /// node `node`.
    Stored {
        /// The room's store key.
        room: String,
        /// The message's id.
        id: u64,
        /// The id of the node that stored it.
        node: String,
    },
    /// Notifications may have been missed: read every room's latest id.
    Resync,
    /// An event another node relayed (see [`Store::relay`](super::Store::relay)).
    Relayed(String),
}

/// Starts listening on `channel` (what is stored) and `relay` (what nodes
/// relay) of the database at `config`; notices arrive on the returned
/// receiver until it is dropped.
pub fn listen(
    config: tokio_postgres::Config,
    channel: &'static str,
    relay: &'static str,
) -> mpsc::Receiver<Notice> {
    let (notices, receiver) = mpsc::channel(CAPACITY);
    tokio::spawn(async move {
        let mut wait = FIRST_RETRY;
        while !notices.is_closed() {
            match listen_once(&config, [channel, relay], &notices, &mut wait).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = wait.as_millis(), "lost the database's notifications; reconnecting");
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(LAST_RETRY);
        }
    });
    receiver
}

/// Listens on one connection until it fails (an error) or nobody reads the
/// feed any more (`Ok`).
async fn listen_once(
    config: &tokio_postgres::Config,
    [channel, relay]: [&str; 2],
    notices: &mpsc::Sender<Notice>,
    wait: &mut Duration,
) -> Result<(), Lost> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (messages, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    if messages.send(Ok(notification)).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    let _ = messages.send(Err(error));
                    return;
                }
                None => return,
            }
        }
    });
    let listening = client
        .batch_execute(&format!("LISTEN {channel}; LISTEN {relay}"))
        .await;
    if let Err(error) = listening {
        driver.abort();
        return Err(error.into());
    }
    *wait = FIRST_RETRY;
    if notices.send(Notice::Resync).await.is_err() {
        driver.abort();
        return Ok(());
    }
    let outcome = loop {
        match received.recv().await {
            Some(Ok(notification)) if notification.channel() == relay => {
                let relayed = Notice::Relayed(notification.payload().to_owned());
                if notices.send(relayed).await.is_err() {
                    break Ok(());
                }
            }
            Some(Ok(notification)) => {
                let Some(notice) = parse(notification.payload()) else {
                    tracing::warn!(
                        payload = notification.payload(),
                        "an unreadable notification"
                    );
                    continue;
                };
                if notices.send(notice).await.is_err() {
                    break Ok(());
                }
            }
            Some(Err(error)) => break Err(error.into()),
            None => break Err("the server closed the connection".into()),
        }
    };
    driver.abort();
    outcome
}

/// Why the feed stopped listening: the connection's error.
type Lost = Box<dyn std::error::Error + Send + Sync>;

/// `<id> <node> <room>`, as `chat_append` announces a message.
fn parse(payload: &str) -> Option<Notice> {
    let (id, rest) = payload.split_once(' ')?;
    let (node, room) = rest.split_once(' ')?;
    Some(Notice::Stored {
        room: room.to_owned(),
        id: id.parse().ok()?,
        node: node.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_chat_append_announces() {
        assert_eq!(
            parse("42 node-1 group:dev"),
            Some(Notice::Stored {
                room: "group:dev".to_owned(),
                id: 42,
                node: "node-1".to_owned(),
            })
        );
        assert_eq!(
            parse("7 n user:a b"),
            Some(Notice::Stored {
                room: "user:a b".to_owned(),
                id: 7,
                node: "n".to_owned(),
            })
        );
        assert_eq!(parse("x n group"), None);
        assert_eq!(parse("7 group"), None);
    }
}
