//! The location table of a registrar (Kamailio's `usrloc` with `db_mode` 0): the bindings of
//! each address-of-record (AOR) to contact addresses, RFC 3261 §10.3.
//!
//! One [`Location`] per process, shared by every worker: a REGISTER lands on the worker that
//! owns its Call-ID, while the INVITE that looks the AOR up may land on any other. The table
//! is split into `2^hash_size` slots (Kamailio's `hash_size`), each behind its own mutex, and
//! a key picks its slot by an ahash of the AOR, so two workers only wait for each other when
//! they touch the same slot at the same instant; a lock is held for one record update, never
//! across I/O.
//!
//! # Bounds
//! Memory is accounted per binding (the strings it keeps plus a fixed overhead) against
//! `max_bytes`, a share of `-m`. An update that would cross it fails with
//! [`UlError::Full`] (the registrar answers 503 and counts it) after expired bindings have been
//! purged; nothing already stored is evicted. Each AOR holds at most `max_contacts` bindings
//! when that is set ([`UlError::TooMany`]).
//!
//! # Time
//! Like the rest of this crate it reads no clock: every call takes `now`. Expired bindings are
//! invisible to lookups at once and their memory is reclaimed when their record is next
//! touched, by [`Location::purge_slot`] (which the owner calls on a timer, one slot at a
//! time) or by a full purge when the table is about to refuse an update.
//!
//! # Atomicity
//! RFC 3261 §10.3 step 7: the binding updates of one REGISTER are committed only if all of
//! them succeed. [`Location::register`] computes the new binding set of the record on a copy
//! and stores it in one step under the slot lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The fixed cost charged per binding on top of its strings (the struct, the vector slot and
/// the record's share of the map entry).
const BINDING_OVERHEAD: usize = 160;

/// Why a registration could not be applied. Each maps onto the reply Kamailio's registrar
/// sends ([`UlError::status`], [`UlError::reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UlError {
    /// A request with the same Call-ID and a lower CSeq than the stored binding (RFC 3261
    /// §10.3 step 7: the update is aborted).
    #[error("Invalid CSeq number")]
    InvalidCSeq,
    /// More bindings than `max_contacts` would remain.
    #[error("Too many registered contacts")]
    TooMany,
    /// The table's memory bound would be crossed.
    #[error("Location table full")]
    Full,
}

impl UlError {
    /// The status code of the reply (Kamailio registrar `rerrno` mapping).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidCSeq => 400,
            Self::TooMany | Self::Full => 503,
        }
    }

    /// The reason phrase of the reply.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidCSeq => "Bad Request",
            Self::TooMany | Self::Full => "Service Unavailable",
        }
    }
}

/// One binding as a REGISTER asks for it (a Contact header value with its parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBinding {
    /// The contact URI (RFC 3261 §10.2.1).
    pub uri: String,
    /// The granted lifetime in seconds, after the registrar's limits; 0 removes the binding
    /// (RFC 3261 §10.2.2).
    pub expires: u32,
    /// The `q` value in thousandths (0..=1000), `None` when absent (RFC 3261 §10.2.1.2).
    pub q: Option<u16>,
    /// `+sip.instance` (RFC 5626 §4.1): with `reg_id`, the binding's identity instead of the
    /// URI.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626 §4.2).
    pub reg_id: Option<u32>,
    /// Where the REGISTER came from (`sip:ip:port;transport=..`), when it differs from the
    /// contact (NAT): lookups send there instead (Kamailio's `received`).
    pub received: Option<String>,
    /// The Path header values (RFC 3327 §5.3), joined with commas, when stored.
    pub path: Option<String>,
    /// The User-Agent of the REGISTER.
    pub user_agent: Option<String>,
    /// The local socket the REGISTER arrived on (an index of the process's listen sockets).
    pub socket: Option<usize>,
}

/// A REGISTER's changes to one AOR (RFC 3261 §10.3 steps 6-7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Register {
    /// The Call-ID of the request.
    pub call_id: String,
    /// The CSeq number of the request.
    pub cseq: u32,
    /// `Contact: *` with `Expires: 0`: remove every binding of the AOR (RFC 3261 §10.2.2).
    pub remove_all: bool,
    /// The bindings to add, refresh or (with expires 0) remove.
    pub bindings: Vec<NewBinding>,
    /// The most bindings the AOR may keep; 0 is unlimited.
    pub max_contacts: usize,
    /// Keep only the bindings of this request, dropping the others (Kamailio `save` flag
    /// 0x04, one contact per AOR).
    pub replace: bool,
}

/// A stored binding as the registrar and `lookup` see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI.
    pub uri: String,
    /// When the binding expires.
    pub expires_at: Instant,
    /// `q` in thousandths, `None` when the client gave none.
    pub q: Option<u16>,
    /// The Call-ID of the REGISTER that last updated it.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// `+sip.instance`.
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<u32>,
    /// The source address of the REGISTER, when it differs from the contact.
    pub received: Option<String>,
    /// The Path of the REGISTER.
    pub path: Option<String>,
    /// The User-Agent of the REGISTER.
    pub user_agent: Option<String>,
    /// The socket the REGISTER arrived on.
    pub socket: Option<usize>,
    /// When it was last updated (ties of `q` go to the most recent, as in Kamailio).
    pub updated: Instant,
}

impl Binding {
    /// The bytes this binding is charged against the table's bound.
    fn cost(&self) -> usize {
        BINDING_OVERHEAD
            + self.uri.len()
            + self.call_id.len()
            + self.instance.as_ref().map_or(0, String::len)
            + self.received.as_ref().map_or(0, String::len)
            + self.path.as_ref().map_or(0, String::len)
            + self.user_agent.as_ref().map_or(0, String::len)
    }

    /// The seconds left before it expires, at `now` (0 once expired).
    pub fn remaining(&self, now: Instant) -> u64 {
        let left = self.expires_at.saturating_duration_since(now);
        // Round up, so a binding granted 3600 s reports 3600 right after the update.
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }

    /// Whether `new` names this binding (RFC 3261 §10.3 step 6 compares contact URIs; RFC
    /// 5626 §6 uses the instance and reg-id when both carry them).
    fn same_as(&self, new: &NewBinding) -> bool {
        match (&self.instance, self.reg_id, &new.instance, new.reg_id) {
            (Some(a), Some(x), Some(b), Some(y)) => a == b && x == y,
            _ => same_uri(&self.uri, &new.uri),
        }
    }
}

/// Contact URI comparison: scheme and host are case-insensitive (RFC 3261 §19.1.4); the
/// rest is compared as written, which is what Kamailio's usrloc does.
fn same_uri(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && match (a.find('@'), b.find('@')) {
            (Some(i), Some(j)) if i == j => {
                let (au, ah) = a.split_at(i);
                let (bu, bh) = b.split_at(j);
                eq_scheme_user(au, bu) && ah.eq_ignore_ascii_case(bh)
            }
            (None, None) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
}

/// `scheme:user` with the scheme compared without case and the user exactly.
fn eq_scheme_user(a: &str, b: &str) -> bool {
    match (a.split_once(':'), b.split_once(':')) {
        (Some((sa, ua)), Some((sb, ub))) => sa.eq_ignore_ascii_case(sb) && ua == ub,
        _ => a == b,
    }
}

/// The counters of a [`Location`] (Kamailio `usrloc` and `registrar` statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UlStats {
    /// AORs with at least one binding stored (expired ones included until purged).
    pub records: usize,
    /// Bindings stored (expired ones included until purged).
    pub contacts: usize,
    /// Bytes charged against the bound.
    pub bytes: usize,
    /// REGISTERs applied.
    pub accepted: u64,
    /// REGISTERs refused (bad CSeq, too many contacts, table full).
    pub rejected: u64,
    /// Refusals because the table was full.
    pub full: u64,
    /// Bindings that expired and were removed.
    pub expired: u64,
}

/// The bindings of one AOR.
type Record = Vec<Binding>;

/// One slot of the table.
#[derive(Debug, Default)]
struct Slot {
    records: HashMap<Box<str>, Record, ahash::RandomState>,
}

/// The process-wide location table of one usrloc domain (see the module docs).
#[derive(Debug)]
pub struct Location {
    slots: Box<[Mutex<Slot>]>,
    hasher: ahash::RandomState,
    max_bytes: usize,
    bytes: AtomicUsize,
    contacts: AtomicUsize,
    records: AtomicUsize,
    accepted: AtomicU64,
    rejected: AtomicU64,
    full: AtomicU64,
    expired: AtomicU64,
    /// The next slot [`Location::purge_next`] visits.
    cursor: AtomicUsize,
    /// The time the table was made: [`Location::purge_due`] counts from it.
    born: Instant,
    /// When the next slot is due for [`Location::purge_due`], in nanoseconds after `born`.
    next_purge_ns: AtomicU64,
}

impl Location {
    /// A table of `2^hash_size` slots (clamped to 1..=2^16) holding at most `max_bytes` of
    /// bindings.
    pub fn new(hash_size: u32, max_bytes: usize) -> Self {
        let slots = 1usize << hash_size.clamp(0, 16);
        Self {
            slots: (0..slots).map(|_| Mutex::new(Slot::default())).collect(),
            hasher: ahash::RandomState::new(),
            max_bytes,
            bytes: AtomicUsize::new(0),
            contacts: AtomicUsize::new(0),
            records: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            full: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            cursor: AtomicUsize::new(0),
            born: Instant::now(),
            next_purge_ns: AtomicU64::new(0),
        }
    }

    /// The counters.
    pub fn stats(&self) -> UlStats {
        UlStats {
            records: self.records.load(Ordering::Relaxed),
            contacts: self.contacts.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            full: self.full.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
        }
    }

    /// The memory bound in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    fn slot_of(&self, aor: &str) -> usize {
        // The slot count is a power of two.
        (self.hasher.hash_one(aor) as usize) & (self.slots.len() - 1)
    }

    fn lock(&self, i: usize) -> Option<MutexGuard<'_, Slot>> {
        // A poisoned slot (a panic while it was held) still holds consistent data: every
        // update is computed on a copy and stored in one assignment.
        let m = self.slots.get(i)?;
        Some(m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Applies a REGISTER to `aor` at `now` (RFC 3261 §10.3 steps 6-8): all of it or none.
    /// Returns the bindings the AOR has afterwards, for the 200 OK's Contact list.
    pub fn register(
        &self,
        aor: &str,
        req: &Register,
        now: Instant,
    ) -> Result<Vec<Binding>, UlError> {
        let r = self.register_once(aor, req, now);
        let r = match r {
            Err(UlError::Full) => {
                // Reclaim expired bindings everywhere once before refusing.
                self.purge_all(now);
                self.register_once(aor, req, now)
            }
            r => r,
        };
        match r {
            Ok(_) => self.accepted.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                if e == UlError::Full {
                    self.full.fetch_add(1, Ordering::Relaxed);
                }
                self.rejected.fetch_add(1, Ordering::Relaxed)
            }
        };
        r
    }

    fn register_once(
        &self,
        aor: &str,
        req: &Register,
        now: Instant,
    ) -> Result<Vec<Binding>, UlError> {
        let Some(mut slot) = self.lock(self.slot_of(aor)) else {
            return Err(UlError::Full);
        };
        let old: &[Binding] = slot.records.get(aor).map_or(&[], |r| r.as_slice());
        let old_cost: usize = old.iter().map(Binding::cost).sum();
        let old_len = old.len();
        let mut expired = 0u64;
        // Start from the live bindings.
        let mut next: Vec<Binding> = old
            .iter()
            .filter(|b| {
                let live = b.expires_at > now;
                expired += u64::from(!live);
                live
            })
            .cloned()
            .collect();
        if req.remove_all {
            // RFC 3261 §10.3 step 6: `*` removes every binding unless one with the same
            // Call-ID has a CSeq at least as high.
            if next
                .iter()
                .any(|b| b.call_id == req.call_id && b.cseq > req.cseq)
            {
                return Err(UlError::InvalidCSeq);
            }
            next.clear();
        } else {
            if req.replace {
                next.retain(|b| req.bindings.iter().any(|n| b.same_as(n)));
            }
            for n in &req.bindings {
                let found = next.iter().position(|b| b.same_as(n));
                if let Some(i) = found {
                    let b = next.get(i).ok_or(UlError::Full)?;
                    if b.call_id == req.call_id {
                        if req.cseq < b.cseq {
                            return Err(UlError::InvalidCSeq);
                        }
                        if req.cseq == b.cseq {
                            // A retransmission of the request that set it: unchanged.
                            continue;
                        }
                    }
                }
                let binding = (n.expires > 0).then(|| Binding {
                    uri: n.uri.clone(),
                    expires_at: now + Duration::from_secs(u64::from(n.expires)),
                    q: n.q,
                    call_id: req.call_id.clone(),
                    cseq: req.cseq,
                    instance: n.instance.clone(),
                    reg_id: n.reg_id,
                    received: n.received.clone(),
                    path: n.path.clone(),
                    user_agent: n.user_agent.clone(),
                    socket: n.socket,
                    updated: now,
                });
                match (found, binding) {
                    (Some(i), Some(b)) => {
                        if let Some(slot) = next.get_mut(i) {
                            *slot = b;
                        }
                    }
                    (Some(i), None) => {
                        next.remove(i);
                    }
                    (None, Some(b)) => next.push(b),
                    (None, None) => {}
                }
            }
            if req.max_contacts > 0 && next.len() > req.max_contacts {
                return Err(UlError::TooMany);
            }
        }
        let new_cost: usize = next.iter().map(Binding::cost).sum();
        if new_cost > old_cost {
            let grow = new_cost - old_cost;
            let ok = self
                .bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    (b + grow <= self.max_bytes).then_some(b + grow)
                })
                .is_ok();
            if !ok {
                return Err(UlError::Full);
            }
        } else {
            self.bytes.fetch_sub(old_cost - new_cost, Ordering::Relaxed);
        }
        self.expired.fetch_add(expired, Ordering::Relaxed);
        self.adjust_counts(old_len, next.len());
        let result = next.clone();
        if next.is_empty() {
            slot.records.remove(aor);
        } else {
            match slot.records.get_mut(aor) {
                Some(r) => *r = next,
                None => {
                    slot.records.insert(aor.into(), next);
                }
            }
        }
        Ok(result)
    }

    fn adjust_counts(&self, old_len: usize, new_len: usize) {
        if new_len >= old_len {
            self.contacts
                .fetch_add(new_len - old_len, Ordering::Relaxed);
        } else {
            self.contacts
                .fetch_sub(old_len - new_len, Ordering::Relaxed);
        }
        match (old_len, new_len) {
            (0, n) if n > 0 => {
                self.records.fetch_add(1, Ordering::Relaxed);
            }
            (o, 0) if o > 0 => {
                self.records.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The live bindings of `aor` at `now`, best first: highest `q` (a binding without one
    /// counts as `default_q`, Kamailio's registrar parameter), then the most recently updated
    /// (RFC 3261 §16.6 leaves the order within one q to the proxy).
    pub fn lookup(&self, aor: &str, now: Instant, default_q: u16) -> Vec<Binding> {
        let Some(slot) = self.lock(self.slot_of(aor)) else {
            return Vec::new();
        };
        let mut v: Vec<Binding> = slot
            .records
            .get(aor)
            .map(|r| r.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        drop(slot);
        v.sort_by(|a, b| {
            b.q.unwrap_or(default_q)
                .cmp(&a.q.unwrap_or(default_q))
                .then(b.updated.cmp(&a.updated))
        });
        v
    }

    /// Whether `aor` has a live binding at `now` (Kamailio `registered()`).
    pub fn registered(&self, aor: &str, now: Instant) -> bool {
        self.lock(self.slot_of(aor)).is_some_and(|s| {
            s.records
                .get(aor)
                .is_some_and(|r| r.iter().any(|b| b.expires_at > now))
        })
    }

    /// Removes every binding of `aor` (Kamailio `unregister()`); returns how many there were.
    pub fn remove(&self, aor: &str) -> usize {
        let Some(mut slot) = self.lock(self.slot_of(aor)) else {
            return 0;
        };
        let Some(r) = slot.records.remove(aor) else {
            return 0;
        };
        drop(slot);
        let cost: usize = r.iter().map(Binding::cost).sum();
        self.bytes.fetch_sub(cost, Ordering::Relaxed);
        self.adjust_counts(r.len(), 0);
        r.len()
    }

    /// Removes the expired bindings of slot `i` (Kamailio's usrloc timer does this every
    /// `timer_interval`). Returns how many were removed.
    pub fn purge_slot(&self, i: usize, now: Instant) -> usize {
        let Some(mut slot) = self.lock(i) else {
            return 0;
        };
        let mut removed = 0;
        let mut freed = 0;
        let mut emptied = 0;
        slot.records.retain(|_, r| {
            let before = r.len();
            r.retain(|b| {
                let live = b.expires_at > now;
                if !live {
                    freed += b.cost();
                }
                live
            });
            removed += before - r.len();
            emptied += usize::from(r.is_empty());
            !r.is_empty()
        });
        drop(slot);
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        self.contacts.fetch_sub(removed, Ordering::Relaxed);
        self.records.fetch_sub(emptied, Ordering::Relaxed);
        self.expired.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Purges the next `n` slots in turn (an incremental sweep any worker may drive).
    pub fn purge_next(&self, n: usize, now: Instant) -> usize {
        let len = self.slots.len();
        (0..n.min(len))
            .map(|_| {
                let i = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
                self.purge_slot(i, now)
            })
            .sum()
    }

    /// Purges the slots that are due at `now` so that every slot is visited once per
    /// `interval` (Kamailio's usrloc `timer_interval`), at most `max` slots per call: callers
    /// on the message path call it often, and each call does a bounded amount of work (the
    /// clock is the caller's, as everywhere in this crate). Returns how many bindings were
    /// removed.
    pub fn purge_due(&self, now: Instant, interval: Duration, max: usize) -> usize {
        let slots = self.slots.len() as u64;
        let step = u64::try_from(interval.as_nanos() / u128::from(slots))
            .unwrap_or(u64::MAX)
            .max(1);
        let at =
            u64::try_from(now.saturating_duration_since(self.born).as_nanos()).unwrap_or(u64::MAX);
        let mut removed = 0;
        for _ in 0..max {
            let due = self.next_purge_ns.load(Ordering::Relaxed);
            if due > at {
                break;
            }
            // One caller wins each due slot; a slot left behind (a long idle time) is caught
            // up at most `max` slots per call.
            if self
                .next_purge_ns
                .compare_exchange(
                    due,
                    due.saturating_add(step),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                removed += self.purge_next(1, now);
            }
        }
        removed
    }

    /// Purges every slot.
    pub fn purge_all(&self, now: Instant) -> usize {
        (0..self.slots.len()).map(|i| self.purge_slot(i, now)).sum()
    }

    /// Calls `f` with every AOR and its stored bindings (expired ones included until
    /// purged), slot by slot: read-only, for the control interface (`ul.dump`). Each slot is
    /// locked while `f` runs on its records, so `f` must be quick and must not call back into
    /// the table.
    pub fn for_each_record(&self, mut f: impl FnMut(&str, &[Binding])) {
        for i in 0..self.slots.len() {
            if let Some(slot) = self.lock(i) {
                for (aor, r) in &slot.records {
                    f(aor, r);
                }
            }
        }
    }

    /// The number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
#[path = "usrloc_tests.rs"]
mod tests;
