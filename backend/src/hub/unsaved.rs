//! A sender's order across store failures. When a message cannot be stored
//! (the database restarting, a node dying mid-batch), the sender is told
//! `unavailable` and sends it again later; a message it sent meanwhile must
//! not be stored before it. So after a failure, a socket's messages are
//! refused, unstored, until the ones that failed come back, in order (by
//! their client ids); a client that resends what it has not had
//! acknowledged in the order it wrote it, as ours and the README's do,
//! never notices. A message without a client id cannot be resent as
//! itself, so it is neither waited for nor, while others are, stored.
//!
//! The wait is bounded ([`WAIT_AT_MOST`] after the last failure): a client
//! may never send the failed message again (it gave up, or an earlier copy
//! of it was stored and acknowledged before a resend of it failed), and it
//! must not be refused for ever.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long after a failure a socket's later messages wait for the failed
/// ones to come back; after that, whatever it sends is stored.
pub(crate) const WAIT_AT_MOST: Duration = Duration::from_secs(5);

/// The client ids of a socket's messages that could not be stored, oldest
/// first: the next message stored must be the first of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsaved {
    waiting: VecDeque<String>,
    /// When the last of them failed.
    since: Instant,
}

impl Default for Unsaved {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            since: Instant::now(),
        }
    }
}

impl Unsaved {
    /// Whether a message with `client_id` may be stored `now`: nothing
    /// failed before it, it is the oldest that failed, sent again (then the
    /// next one is waited for), or the wait is over.
    pub(crate) fn admits(&mut self, client_id: Option<&str>, now: Instant) -> bool {
        if now.duration_since(self.since) > WAIT_AT_MOST {
            self.waiting.clear();
        }
        match (self.waiting.front(), client_id) {
            (None, _) => true,
            (Some(first), Some(id)) if first == id => {
                self.waiting.pop_front();
                true
            }
            _ => false,
        }
    }

    /// Messages `failed` (their client ids, in the order they were sent)
    /// could not be stored `now`: they are due before anything still waited
    /// for. A message waited for already (a resend of it failed too) is
    /// waited for once.
    pub(crate) fn failed<'a>(
        &mut self,
        failed: impl DoubleEndedIterator<Item = &'a str>,
        now: Instant,
    ) {
        for id in failed.rev() {
            if let Some(at) = self.waiting.iter().position(|waited| waited == id) {
                self.waiting.remove(at);
            }
            self.waiting.push_front(id.to_owned());
        }
        self.since = now;
    }

    /// Whether nothing is waited for.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_failure_everything_is_stored() {
        let now = Instant::now();
        let mut unsaved = Unsaved::default();
        assert!(unsaved.admits(Some("a"), now));
        assert!(unsaved.admits(None, now));
        assert!(unsaved.is_empty());
    }

    #[test]
    fn after_a_failure_later_messages_wait_until_the_failed_one_is_resent() {
        let now = Instant::now();
        let mut unsaved = Unsaved::default();
        unsaved.failed(["a"].into_iter(), now);
        assert!(
            !unsaved.admits(Some("b"), now),
            "b was sent after a, which is not stored"
        );
        assert!(!unsaved.admits(None, now), "nor anything without an id");
        assert!(unsaved.admits(Some("a"), now), "a again");
        assert!(unsaved.admits(Some("b"), now), "then b");
        assert!(unsaved.is_empty());
    }

    #[test]
    fn several_failed_messages_come_back_in_their_order() {
        let now = Instant::now();
        let mut unsaved = Unsaved::default();
        unsaved.failed(["a", "b"].into_iter(), now);
        assert!(!unsaved.admits(Some("b"), now));
        assert!(unsaved.admits(Some("a"), now));
        // a failed again, after b had been waited for: a, then b.
        unsaved.failed(["a"].into_iter(), now);
        assert!(!unsaved.admits(Some("b"), now));
        assert!(unsaved.admits(Some("a"), now));
        assert!(unsaved.admits(Some("b"), now));
        assert!(unsaved.admits(Some("c"), now));
    }

    #[test]
    fn a_message_that_failed_twice_is_waited_for_once() {
        let now = Instant::now();
        let mut unsaved = Unsaved::default();
        // The first copy and a resend of it, both in the failed batch.
        unsaved.failed(["a", "a"].into_iter(), now);
        assert!(unsaved.admits(Some("a"), now));
        assert!(unsaved.admits(Some("b"), now), "a is not waited for again");
    }

    #[test]
    fn the_wait_ends_if_the_failed_message_never_comes_back() {
        let now = Instant::now();
        let mut unsaved = Unsaved::default();
        unsaved.failed(["a"].into_iter(), now);
        assert!(!unsaved.admits(Some("b"), now + WAIT_AT_MOST));
        assert!(unsaved.admits(Some("b"), now + WAIT_AT_MOST + Duration::from_millis(1)));
        assert!(unsaved.is_empty());
    }
}
