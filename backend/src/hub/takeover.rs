//! Answers that are due after a failure: the bot is asked again about every
//! message whose answer a stopped server never stored, once.
//!
//! With a store of its own, a node looks once, at start, at what its crash
//! left ([`unanswered`](super::unanswered) for the group rooms, the private
//! conversations whose last line is the user's). With a shared store, each
//! message is due from the node that stored it; every [`EVERY`] a node says
//! it is alive and takes over what stopped nodes owed (and, at start, what
//! it owed itself before a restart, or whose claim outlived the bot's
//! timeout), each message claimed by one node only.

use std::sync::Arc;
use std::time::Duration;

use socketioxide::SocketIo;

use super::answers::Questions;
use super::conversation::{GROUP, PRIVATE};
use super::history::{self, chat_message};
use super::{Hub, private, unanswered};
use crate::store::{Store, Stored};

/// How often a node with a shared store looks for answers to take over.
const EVERY: Duration = Duration::from_secs(2);

/// How long past the bot's timeout a claim holds before another node may
/// take the message over (its answer could not be stored: the database
/// was down, say). Streamed answers may take longer than the timeout, which
/// bounds the silence between pieces; the margin covers most of them.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// Asks again about what is due now, at start, before connections are
/// taken; with a shared store, keeps doing so every [`EVERY`].
pub(super) async fn start(io: SocketIo, hub: Hub, questions: Questions) {
    let store = hub.store.clone();
    let lease = hub.bot_timeout + LEASE_MARGIN;
    match store.take_over_answers(true, lease).await {
        Ok(Some(due)) => {
            ask(&io, &hub, &questions, due);
            tokio::spawn(watch(io, hub, questions, lease));
        }
        Ok(None) => {
            let group = unanswered::group(store.as_ref(), history::now()).await;
            if !group.is_empty() {
                tracing::info!(
                    messages = group.len(),
                    "answering group messages left unanswered"
                );
            }
            for message in group {
                questions.ask(message);
            }
            let private = private::left_unanswered(store.as_ref()).await;
            ask(&io, &hub, &questions, private);
        }
        Err(error) => {
            tracing::error!(%error, "cannot look for answers still due; trying again");
            tokio::spawn(watch(io, hub, questions, lease));
        }
    }
}

/// Takes over, every [`EVERY`], what stopped nodes owed, until the server stops.
async fn watch(io: SocketIo, hub: Hub, questions: Questions, lease: Duration) {
    let store: Arc<dyn Store> = hub.store.clone();
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if questions.is_closed() {
            return;
        }
        match store.take_over_answers(false, lease).await {
            Ok(due) => ask(&io, &hub, &questions, due.unwrap_or_default()),
            Err(error) => tracing::warn!(%error, "cannot look for answers still due"),
        }
    }
}

/// Asks the bot about each of `due`, group messages and private lines.
fn ask(io: &SocketIo, hub: &Hub, questions: &Questions, due: Vec<Stored>) {
    if due.is_empty() {
        return;
    }
    tracing::info!(messages = due.len(), "answering messages left unanswered");
    let (group, private): (Vec<Stored>, Vec<Stored>) = due
        .into_iter()
        .filter(|stored| {
            stored.draft.room.starts_with(GROUP) || stored.draft.room.starts_with(PRIVATE)
        })
        .partition(|stored| stored.draft.room.starts_with(GROUP));
    for stored in group {
        questions.ask(chat_message(&stored));
    }
    tokio::spawn(private::answer_left_over(io.clone(), hub.clone(), private));
}
