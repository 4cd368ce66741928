//! The tokio runtime `chat-server` runs on: how many threads carry the
//! network side, chosen by the machine's core count unless told.
//!
//! Appends to SQLite have a thread of their own (`store-writer`) and reads
//! go to tokio's blocking pool either way, so the workers only move
//! packets. On two cores, one worker (tokio's current-thread scheduler)
//! leaves the other core to the store and to the peers, and wakes no
//! second worker for every task it hands over: measured against two
//! workers, 10–20% less CPU per delivery at the light loads and a lower
//! p99 to the last of 10,000 listeners (the README's performance section).

use std::io;
use std::num::NonZeroUsize;

use tokio::runtime::{Builder, Runtime};

/// Workers when none are asked for: one on a machine with at most two
/// cores, else one per core, the multi-thread scheduler's own default.
#[must_use]
pub fn default_workers() -> usize {
    let cores = cores();
    if cores <= 2 { 1 } else { cores }
}

/// The cores this process may run on (1 when the system cannot say).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Builds the runtime: for one worker, tokio's current-thread scheduler
/// (every task on the thread that calls `block_on`); for more, the
/// multi-thread scheduler with that many workers. Zero is taken as one.
///
/// # Errors
/// What tokio reports when it cannot set up the runtime (threads, epoll).
pub fn build(workers: usize) -> io::Result<Runtime> {
    if workers <= 1 {
        Builder::new_current_thread().enable_all().build()
    } else {
        Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread a task spawned on `runtime` runs on.
    fn spawned_on(runtime: &Runtime) -> std::thread::ThreadId {
        runtime.block_on(async {
            tokio::spawn(async { std::thread::current().id() })
                .await
                .unwrap()
        })
    }

    #[test]
    fn one_worker_runs_on_the_calling_thread() {
        let runtime = build(1).unwrap();
        assert_eq!(spawned_on(&runtime), std::thread::current().id());
    }

    #[test]
    fn several_workers_run_off_the_calling_thread() {
        let runtime = build(2).unwrap();
        assert_ne!(spawned_on(&runtime), std::thread::current().id());
        assert_eq!(runtime.metrics().num_workers(), 2);
    }

    #[test]
    fn the_default_is_one_worker_on_two_cores_or_fewer() {
        let cores = cores();
        let workers = default_workers();
        if cores <= 2 {
            assert_eq!(workers, 1);
        } else {
            assert_eq!(workers, cores);
        }
    }
}
