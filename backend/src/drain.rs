//! Draining a node before it stops (SIGTERM, a rolling restart): it says it
//! is not ready (`/readyz` answers 503, for the load balancer), opens no
//! new sessions and takes no new messages (their senders are told to send
//! them again, which they do on another node), finishes the work it has
//! accepted, and only then closes its sockets.
//!
//! The work in flight is counted by [`Work`] tickets: whoever takes on
//! something that must end before the node stops (a question for the bot, a
//! private message being stored and answered) holds one until it is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Whether the node is draining, and how much accepted work is unfinished.
/// A cheap `Clone` handle.
#[derive(Debug, Clone, Default)]
pub struct Drain(Arc<State>);

#[derive(Debug, Default)]
struct State {
    draining: AtomicBool,
    unfinished: AtomicUsize,
    idle: Notify,
}

/// A piece of accepted work; it is finished when the ticket is dropped.
#[derive(Debug)]
pub struct Work(Arc<State>);

impl Drain {
    /// From now on the node is draining. Only ever goes one way.
    pub fn begin(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the node is draining: it takes nothing new.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// A ticket for work that must be finished before the node stops.
    pub fn work(&self) -> Work {
        self.0.unfinished.fetch_add(1, Ordering::SeqCst);
        Work(self.0.clone())
    }

    /// How many tickets are out.
    pub fn unfinished(&self) -> usize {
        self.0.unfinished.load(Ordering::SeqCst)
    }

    /// Resolves once no ticket is out.
    pub async fn finished(&self) {
        loop {
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a ticket dropped in
            // between still wakes it.
            idle.as_mut().enable();
            if self.unfinished() == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if self.0.unfinished.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn finishes_once_every_ticket_is_back() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        drain.finished().await;
        let (one, two) = (drain.work(), drain.work());
        drain.begin();
        assert!(drain.is_draining());
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.finished().await }
        });
        drop(one);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one ticket is still out");
        let three = drain.work();
        drop(two);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "work taken on meanwhile counts too");
        drop(three);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("finished")
            .unwrap();
        assert_eq!(drain.unfinished(), 0);
    }
}
