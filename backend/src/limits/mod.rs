//! What one client may do, so that one client cannot take the server from
//! everyone else: connections and sessions it may hold, how fast it may
//! open sessions, send, read and store, and whose word on its address the
//! server takes.

mod address;
mod connections;
mod rate;

use std::time::Duration;

pub use address::{BadProxy, ClientAddress, PeerAddr, TrustedProxies, TrustedProxy};
pub use connections::{Counter, Full, Slot};
pub use rate::{Action, Client, RateLimits, Rates, RetryAfter};

/// File descriptors kept out of the connection cap: for the refusals sent
/// once the cap is reached, the store's files, the log and the runtime.
/// An eighth of the limit, at least this many.
const MIN_SPARE_FDS: u64 = 64;

/// Limits on connections, in force from the accept loop on.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Most open connections in total. Default: from the file-descriptor
    /// limit (see [`raise_fd_limit`]).
    pub max_connections: usize,
    /// Most open connections, and most Socket.IO sessions, from one client
    /// address. Default 64.
    pub max_per_address: usize,
    /// How long a request head may take to arrive, and how long a
    /// keep-alive connection may sit idle between requests. Default 10 s.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_per_address: 64,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Raises this process's file-descriptor limit to its hard maximum and
/// returns how many connections fit under it with room to spare: the spare
/// descriptors let the server refuse clearly, answer `/healthz`, and keep
/// its own files open when the cap is reached.
pub fn raise_fd_limit() -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the file-descriptor limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    connections_for_fd_limit(limit)
}

/// Connections that fit under a file-descriptor limit of `limit`.
pub fn connections_for_fd_limit(limit: u64) -> usize {
    let spare = (limit / 8).max(MIN_SPARE_FDS);
    usize::try_from(limit.saturating_sub(spare).max(1)).unwrap_or(usize::MAX)
}

/// Descriptors that connections refused over the cap may use at once, out
/// of the spare ones.
pub fn refusing_room(max_connections: usize) -> usize {
    (max_connections / 16).clamp(8, 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1024_descriptor_machine_keeps_an_eighth_spare() {
        assert_eq!(connections_for_fd_limit(1024), 896);
        assert_eq!(connections_for_fd_limit(256), 192);
        assert_eq!(connections_for_fd_limit(1_048_576), 917_504);
        assert_eq!(connections_for_fd_limit(10), 1);
    }
}
