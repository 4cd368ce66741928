//! How many connections may be open: in total, so the server never runs out
//! of file descriptors, and per address, so one client cannot take them all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use super::address::ClientAddress;

/// Counts what is open, in total and per address. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub struct Counter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Most open at once, all addresses together.
    total_max: usize,
    /// Most open at once from one address.
    per_address_max: usize,
    /// How many are open, in total and per address (addresses with none are removed).
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why one more was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The server holds as many as it can.
    Total,
    /// This address holds its share.
    Address,
}

/// One open connection (or session), counted until dropped.
#[derive(Debug)]
pub struct Slot {
    counter: Counter,
    /// `None` for connections from a trusted proxy, counted in the total only.
    address: Option<IpAddr>,
}

impl Counter {
    /// Nothing open yet; `total_max` and `per_address_max` of at least 1.
    pub fn new(total_max: usize, per_address_max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                total_max: total_max.max(1),
                per_address_max: per_address_max.max(1),
                open: Mutex::default(),
            }),
        }
    }

    /// Counts one more from `address` (`None`: a trusted proxy, whose
    /// clients are counted by address elsewhere), if there is room.
    pub fn open(&self, address: Option<ClientAddress>) -> Result<Slot, Full> {
        let address = address.map(ClientAddress::ip);
        let mut open = self
            .inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.inner.total_max {
            return Err(Full::Total);
        }
        if let Some(address) = address {
            let count = open.by_address.entry(address).or_default();
            if *count >= self.inner.per_address_max {
                return Err(Full::Address);
            }
            *count += 1;
        }
        open.total += 1;
        Ok(Slot {
            counter: self.clone(),
            address,
        })
    }

    /// How many are open now.
    pub fn total(&self) -> usize {
        self.inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .counter
            .inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total -= 1;
        if let Some(address) = self.address
            && let Some(count) = open.by_address.get_mut(&address)
        {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str) -> Option<ClientAddress> {
        Some(ClientAddress::new(ip.parse().unwrap()))
    }

    #[test]
    fn an_address_gets_its_share_and_others_still_get_in() {
        let counter = Counter::new(10, 2);
        let first = counter.open(at("192.0.2.1")).unwrap();
        let _second = counter.open(at("192.0.2.1")).unwrap();
        assert_eq!(counter.open(at("192.0.2.1")).unwrap_err(), Full::Address);
        assert!(counter.open(at("192.0.2.2")).is_ok());
        drop(first);
        assert!(counter.open(at("192.0.2.1")).is_ok());
    }

    #[test]
    fn the_total_is_never_passed_and_frees_up_as_slots_close() {
        let counter = Counter::new(3, 2);
        let slots: Vec<Slot> = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
            .iter()
            .map(|ip| counter.open(at(ip)).unwrap())
            .collect();
        assert_eq!(counter.open(at("192.0.2.4")).unwrap_err(), Full::Total);
        assert_eq!(counter.open(None).unwrap_err(), Full::Total);
        assert_eq!(counter.total(), 3);
        drop(slots);
        assert_eq!(counter.total(), 0);
        // A trusted proxy is not held to one address's share.
        let proxied: Vec<Slot> = (0..3).map(|_| counter.open(None).unwrap()).collect();
        assert_eq!(proxied.len(), 3);
    }
}
