//! Stores whose calls block a thread (SQLite, memory), and [`OffThread`],
//! which runs them for async code: appends on a thread of their own, the
//! rest on tokio's blocking threads, a bounded number of calls at a time. A
//! client asking for old messages as fast as it can waits its turn instead
//! of growing the blocking pool to hundreds of threads, and a sync to disk
//! never stalls the runtime.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Semaphore, oneshot};

use super::directory::{Created, Directory, Membership};
use super::{Appended, Draft, Store, StoreError, Stored};

/// [`Store`], for an engine whose calls block.
pub trait BlockingStore: BlockingDirectory + std::fmt::Debug + Send + Sync + 'static {
    /// See [`Store::append`].
    fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, StoreError>;
    /// See [`Store::after`].
    fn after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<Stored>, StoreError>;
    /// See [`Store::before`].
    fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError>;
    /// See [`Store::latest_id`].
    fn latest_id(&self, room: &str) -> Result<u64, StoreError>;
    /// See [`Store::latest_ids`].
    fn latest_ids(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError>;
    /// See [`Store::unanswered`].
    fn unanswered(&self, prefix: &str, author: &str) -> Result<Vec<Stored>, StoreError>;
}

/// [`Directory`], for an engine whose calls block.
pub trait BlockingDirectory {
    /// See [`Directory::create_room`].
    fn create_room(&self, name: &str, max_rooms: usize, at: u64) -> Result<Created, StoreError>;
    /// See [`Directory::room_exists`].
    fn room_exists(&self, name: &str) -> Result<bool, StoreError>;
    /// See [`Directory::join_room`].
    fn join_room(&self, user: &str, room: &str, max_rooms: usize)
    -> Result<Membership, StoreError>;
    /// See [`Directory::leave_room`].
    fn leave_room(&self, user: &str, room: &str) -> Result<(), StoreError>;
    /// See [`Directory::memberships`].
    fn memberships(&self, user: &str) -> Result<Vec<(String, u64)>, StoreError>;
    /// See [`Directory::mark_read`].
    fn mark_read(&self, user: &str, room: &str, id: u64) -> Result<bool, StoreError>;
    /// See [`Directory::name`].
    fn name(&self, user: &str) -> Result<Option<String>, StoreError>;
    /// See [`Directory::set_name`].
    fn set_name(&self, user: &str, name: &str) -> Result<(), StoreError>;
    /// See [`Directory::engine_session`].
    fn engine_session(&self, conversation: &str) -> Result<Option<String>, StoreError>;
    /// See [`Directory::set_engine_session`].
    fn set_engine_session(&self, conversation: &str, state: Option<&str>)
    -> Result<(), StoreError>;
}

/// Calls other than appends that may run at once. SQLite reads in WAL mode
/// run side by side, but two cores gain nothing from more.
const CALLS_AT_ONCE: usize = 4;

/// One batch to append, and where its outcome goes.
type AppendJob = (
    Vec<Draft>,
    oneshot::Sender<Result<Vec<Appended>, StoreError>>,
);

/// A [`BlockingStore`] as an async [`Store`]. Appends go to one thread of
/// their own, which waits for the next batch between them: no thread is
/// handed each batch anew, and appends never queue behind reads. Reads and
/// the rest run on the runtime's blocking threads, a few at once.
#[derive(Debug)]
pub struct OffThread<S> {
    store: Arc<S>,
    permits: Arc<Semaphore>,
    writer: std::sync::mpsc::Sender<AppendJob>,
}

impl<S: BlockingStore> OffThread<S> {
    /// Runs `store`'s calls off the runtime; starts its writer thread,
    /// which ends when this is dropped.
    pub fn new(store: S) -> Self {
        let store = Arc::new(store);
        let (writer, jobs) = std::sync::mpsc::channel::<AppendJob>();
        let appender = store.clone();
        std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || {
                for (drafts, outcome) in jobs {
                    let appended =
                        std::panic::catch_unwind(AssertUnwindSafe(|| appender.append(drafts)))
                            .unwrap_or_else(|_| {
                                Err(StoreError::Failed(
                                    "the store panicked while appending".into(),
                                ))
                            });
                    let _ = outcome.send(appended);
                }
            })
            .expect("the store's writer thread starts");
        Self {
            store,
            permits: Arc::new(Semaphore::new(CALLS_AT_ONCE)),
            writer,
        }
    }

    /// Runs `call` on a blocking thread once a permit is free; a panic
    /// there is a failure.
    async fn call<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|closed| StoreError::Failed(closed.into()))?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            call(&store)
        })
        .await
        .unwrap_or_else(|panic| Err(StoreError::Failed(panic.into())))
    }
}

#[async_trait]
impl<S: BlockingStore> Store for OffThread<S> {
    async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, StoreError> {
        // No permit: the hub appends one batch at a time, and an append must
        // not wait behind a crowd of reads.
        let (outcome, appended) = oneshot::channel();
        self.writer
            .send((drafts, outcome))
            .map_err(|_| StoreError::Failed("the store's writer thread is gone".into()))?;
        appended.await.unwrap_or_else(|_| {
            Err(StoreError::Failed(
                "the store's writer thread is gone".into(),
            ))
        })
    }

    async fn after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let room = room.to_owned();
        self.call(move |store| store.after(&room, after, limit))
            .await
    }

    async fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let room = room.to_owned();
        self.call(move |store| store.before(&room, before, limit))
            .await
    }

    async fn latest_id(&self, room: &str) -> Result<u64, StoreError> {
        let room = room.to_owned();
        self.call(move |store| store.latest_id(&room)).await
    }

    async fn latest_ids(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let prefix = prefix.to_owned();
        self.call(move |store| store.latest_ids(&prefix)).await
    }

    async fn unanswered(&self, prefix: &str, author: &str) -> Result<Vec<Stored>, StoreError> {
        let (prefix, author) = (prefix.to_owned(), author.to_owned());
        self.call(move |store| store.unanswered(&prefix, &author))
            .await
    }
}

#[async_trait]
impl<S: BlockingStore> Directory for OffThread<S> {
    async fn create_room(
        &self,
        name: &str,
        max_rooms: usize,
        at: u64,
    ) -> Result<Created, StoreError> {
        let name = name.to_owned();
        self.call(move |store| store.create_room(&name, max_rooms, at))
            .await
    }

    async fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.call(move |store| store.room_exists(&name)).await
    }

    async fn join_room(
        &self,
        user: &str,
        room: &str,
        max_rooms: usize,
    ) -> Result<Membership, StoreError> {
        let (user, room) = (user.to_owned(), room.to_owned());
        self.call(move |store| store.join_room(&user, &room, max_rooms))
            .await
    }

    async fn leave_room(&self, user: &str, room: &str) -> Result<(), StoreError> {
        let (user, room) = (user.to_owned(), room.to_owned());
        self.call(move |store| store.leave_room(&user, &room)).await
    }

    async fn memberships(&self, user: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let user = user.to_owned();
        self.call(move |store| store.memberships(&user)).await
    }

    async fn mark_read(&self, user: &str, room: &str, id: u64) -> Result<bool, StoreError> {
        let (user, room) = (user.to_owned(), room.to_owned());
        self.call(move |store| store.mark_read(&user, &room, id))
            .await
    }

    async fn name(&self, user: &str) -> Result<Option<String>, StoreError> {
        let user = user.to_owned();
        self.call(move |store| store.name(&user)).await
    }

    async fn set_name(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let (user, name) = (user.to_owned(), name.to_owned());
        self.call(move |store| store.set_name(&user, &name)).await
    }

    async fn engine_session(&self, conversation: &str) -> Result<Option<String>, StoreError> {
        let conversation = conversation.to_owned();
        self.call(move |store| store.engine_session(&conversation))
            .await
    }

    async fn set_engine_session(
        &self,
        conversation: &str,
        state: Option<&str>,
    ) -> Result<(), StoreError> {
        let (conversation, state) = (conversation.to_owned(), state.map(str::to_owned));
        self.call(move |store| store.set_engine_session(&conversation, state.as_deref()))
            .await
    }
}
