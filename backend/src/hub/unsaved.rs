//! A sender's order across store failures. When a message cannot be stored
//! (the database restarting, a node dying mid-batch), the sender is told
//! `unavailable` and sends it again later; a message it sent meanwhile must
//! not be stored before it. So after a failure, a socket's messages are
//! refused, unstored, until the ones that failed come back, in order (by
//! their client ids); a client that resends what it has not had
//! acknowledged in the order it wrote it, as ours and the README's do,
//! never notices. A message without a client id cannot be resent as
//! itself, so it is neither waited for nor, while others are, stored.

use std::collections::VecDeque;

/// The client ids of a socket's messages that could not be stored, oldest
/// first: the next message stored must be the first of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Unsaved(VecDeque<String>);

impl Unsaved {
    /// Whether a message with `client_id` may be stored now: nothing failed
    /// before it, or it is the oldest that failed, sent again (then the
    /// next one is waited for).
    pub(crate) fn admits(&mut self, client_id: Option<&str>) -> bool {
        match (self.0.front(), client_id) {
            (None, _) => true,
            (Some(first), Some(id)) if first == id => {
                self.0.pop_front();
                true
            }
            _ => false,
        }
    }

    /// Messages `failed` (their client ids, in the order they were sent)
    /// could not be stored: they are due before anything still waited for.
    pub(crate) fn failed<'a>(&mut self, failed: impl DoubleEndedIterator<Item = &'a str>) {
        for id in failed.rev() {
            self.0.push_front(id.to_owned());
        }
    }

    /// Whether nothing is waited for.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_failure_everything_is_stored() {
        let mut unsaved = Unsaved::default();
        assert!(unsaved.admits(Some("a")));
        assert!(unsaved.admits(None));
        assert!(unsaved.is_empty());
    }

    #[test]
    fn after_a_failure_later_messages_wait_until_the_failed_one_is_resent() {
        let mut unsaved = Unsaved::default();
        unsaved.failed(["a"].into_iter());
        assert!(
            !unsaved.admits(Some("b")),
            "b was sent after a, which is not stored"
        );
        assert!(!unsaved.admits(None), "nor anything without an id");
        assert!(unsaved.admits(Some("a")), "a again");
        assert!(unsaved.admits(Some("b")), "then b");
        assert!(unsaved.is_empty());
    }

    #[test]
    fn several_failed_messages_come_back_in_their_order() {
        let mut unsaved = Unsaved::default();
        unsaved.failed(["a", "b"].into_iter());
        assert!(!unsaved.admits(Some("b")));
        assert!(unsaved.admits(Some("a")));
        // a failed again, after b had been waited for: a, then b.
        unsaved.failed(["a"].into_iter());
        assert!(!unsaved.admits(Some("b")));
        assert!(unsaved.admits(Some("a")));
        assert!(unsaved.admits(Some("b")));
        assert!(unsaved.admits(Some("c")));
    }
}
