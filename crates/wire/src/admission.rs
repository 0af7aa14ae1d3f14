//! Admission of connections that have not proven anything yet (a protocol peer before its
//! handshake completes, a STRONGLIVE client before its first chunk): capped in total and per
//! source address, and checked in the accept loop *before* a thread is spawned, so one host
//! opening connections as fast as it can neither keeps real phones out nor costs threads.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Unproven connections handled at once, from everyone.
pub const MAX_PENDING_TOTAL: usize = 32;
/// Unproven connections handled at once from one address (a phone needs one; a retry after a
/// dropped Wi-Fi link may briefly need a second).
pub const MAX_PENDING_PER_ADDRESS: usize = 4;

/// Why a connection was not admitted (said to the peer where the transport allows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} connections already waiting to authenticate")]
    Total(usize),
    #[error("{limit} connections from {address} already waiting to authenticate")]
    PerAddress { address: IpAddr, limit: usize },
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// The pending-connection counts of one server, shared by its accept loops.
#[derive(Clone, Default)]
pub struct Admission {
    counts: Arc<Mutex<Counts>>,
}

/// Held while a connection is unproven; dropping it (proof given, or the peer gone) frees its
/// place.
pub struct Ticket {
    counts: Arc<Mutex<Counts>>,
    address: IpAddr,
}

impl Admission {
    /// A place for one more unproven connection from `address`, or why there is none.
    pub fn admit(&self, address: IpAddr) -> Result<Ticket, Refusal> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.total >= MAX_PENDING_TOTAL {
            return Err(Refusal::Total(MAX_PENDING_TOTAL));
        }
        let from_address = counts.by_address.entry(address).or_insert(0);
        if *from_address >= MAX_PENDING_PER_ADDRESS {
            return Err(Refusal::PerAddress {
                address,
                limit: MAX_PENDING_PER_ADDRESS,
            });
        }
        *from_address += 1;
        counts.total += 1;
        Ok(Ticket {
            counts: Arc::clone(&self.counts),
            address,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total -= 1;
        if let Some(n) = counts.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_place_and_places_come_back() {
        let admission = Admission::default();
        let flood = IpAddr::from([10, 0, 0, 66]);
        let tickets: Vec<Ticket> = (0..MAX_PENDING_PER_ADDRESS)
            .map(|_| admission.admit(flood).unwrap())
            .collect();
        assert_eq!(
            admission.admit(flood).err(),
            Some(Refusal::PerAddress {
                address: flood,
                limit: MAX_PENDING_PER_ADDRESS
            })
        );
        // A phone elsewhere still gets in while the flooder is capped.
        let phone = admission.admit(IpAddr::from([10, 0, 0, 7])).unwrap();
        drop(tickets);
        assert!(admission.admit(flood).is_ok());
        drop(phone);
        assert!(admission.counts.lock().unwrap().by_address.len() <= 1);
    }

    #[test]
    fn many_addresses_meet_the_total_cap() {
        let admission = Admission::default();
        let tickets: Vec<Ticket> = (0..MAX_PENDING_TOTAL)
            .map(|i| admission.admit(IpAddr::from([10, 0, 1, i as u8])).unwrap())
            .collect();
        assert_eq!(
            admission.admit(IpAddr::from([10, 0, 2, 1])).err(),
            Some(Refusal::Total(MAX_PENDING_TOTAL))
        );
        drop(tickets);
        assert_eq!(admission.counts.lock().unwrap().total, 0);
    }
}
