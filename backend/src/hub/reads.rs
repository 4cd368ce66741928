//! Reads of the history, off the runtime and on a bounded number of
//! threads: a client asking for old messages as fast as it can waits its
//! turn instead of growing tokio's blocking pool to hundreds of threads.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::store::{Store, StoreError};

/// Reads that may run at once. SQLite reads in WAL mode run side by side,
/// but two cores gain nothing from more.
const READ_THREADS: usize = 4;

/// Runs reads of the store. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub(crate) struct Reads {
    store: Arc<dyn Store>,
    permits: Arc<Semaphore>,
}

impl Reads {
    /// Reads of `store`, [`READ_THREADS`] at a time.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            permits: Arc::new(Semaphore::new(READ_THREADS)),
        }
    }

    /// Runs `read` on a blocking thread once one of the permits is free; a
    /// panic there is a failure.
    pub(crate) async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
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
            read(store.as_ref())
        })
        .await
        .unwrap_or_else(|panic| Err(StoreError::Failed(panic.into())))
    }
}
