//! The per-worker transaction table: matching keys of RFC 3261 §17.1.3 / §17.2.3, a hard
//! capacity (STYLE L8) and generation-checked handles for the timer queue.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::output::StatusCode;

/// Default capacity of one worker's [`TxTable`]: every transaction costs memory the peer
/// makes us spend (a flood of INVITEs with fresh branches creates one each), so the table is
/// bounded and a full table answers 503 (ARCHITECTURE decision 4; Kamailio has no such bound
/// short of shm exhaustion).
pub const MAX_PENDING_TX_PER_CORE: usize = 65_536;

/// Longest branch or sent-by accepted into a key. Both are peer-chosen; a bound keeps one
/// transaction's key memory small (STYLE L8). RFC 3261 sets no limit; real branches are
/// under 64 bytes.
pub const MAX_KEY_PART: usize = 256;

/// Which side of the transaction layer a key belongs to (RFC 3261 §17.1.3 vs §17.2.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Client transaction: matched on our branch + CSeq method (§17.1.3); `sent_by` is empty.
    Client,
    /// Server transaction: matched on the top Via's branch + sent-by + method (§17.2.3).
    Server,
}

/// The INVITE / non-INVITE split of RFC 3261 §17, which picks the machine to create.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MethodClass {
    /// INVITE (and ACK, which matches the INVITE's transaction, §17.2.3).
    Invite,
    /// Every other method (CANCEL included, §9.2).
    NonInvite,
}

impl MethodClass {
    /// Class of a method name; method names are case-sensitive (RFC 3261 §7.1).
    #[must_use]
    pub fn of(method: &str) -> Self {
        match method {
            "INVITE" | "ACK" => Self::Invite,
            _ => Self::NonInvite,
        }
    }
}

/// Method as it appears in a key: ACK is folded into INVITE (RFC 3261 §17.2.3).
fn key_method(method: &str) -> &str {
    if method == "ACK" {
        "INVITE"
    } else {
        method
    }
}

/// Owned transaction key (RFC 3261 §17.2.3 for servers, §17.1.3 for clients).
///
/// Only the RFC 3261 magic-cookie branch (`z9hG4bK`) match is implemented; the RFC 2543
/// fallback of §17.2.3 (matching on Request-URI, tags, Call-ID, CSeq and top Via) is out of
/// scope: such requests are handled statelessly by the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxKey {
    role: Role,
    /// Branch, sent-by and method, concatenated: one allocation per key.
    text: Box<str>,
    /// Where the sent-by starts in `text`.
    sent_by_at: u32,
    /// Where the method starts in `text`.
    method_at: u32,
}

/// Borrowed key for lookups straight from a parsed message, without allocating.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxKeyRef<'a> {
    role: Role,
    branch: &'a str,
    sent_by: &'a str,
    method: &'a str,
}

impl<'a> TxKeyRef<'a> {
    /// Server key from the top Via's branch and sent-by and the request method (RFC 3261
    /// §17.2.3; ACK is folded into INVITE).
    #[must_use]
    pub fn server(branch: &'a str, sent_by: &'a str, method: &'a str) -> Self {
        Self {
            role: Role::Server,
            branch,
            sent_by,
            method: key_method(method),
        }
    }

    /// Client key from our branch and the CSeq method of the response (RFC 3261 §17.1.3).
    #[must_use]
    pub fn client(branch: &'a str, cseq_method: &'a str) -> Self {
        Self {
            role: Role::Client,
            branch,
            sent_by: "",
            method: key_method(cseq_method),
        }
    }

    /// The owned copy to insert (STYLE L4 `into_owned`).
    #[must_use]
    pub fn to_owned_key(&self) -> TxKey {
        let mut text =
            String::with_capacity(self.branch.len() + self.sent_by.len() + self.method.len());
        text.push_str(self.branch);
        let sent_by_at = text.len();
        text.push_str(self.sent_by);
        let method_at = text.len();
        text.push_str(self.method);
        TxKey {
            role: self.role,
            text: text.into(),
            // Parts longer than MAX_KEY_PART are refused at insert, so these fit; a
            // saturated offset would only make such a key compare unequal.
            sent_by_at: u32::try_from(sent_by_at).unwrap_or(u32::MAX),
            method_at: u32::try_from(method_at).unwrap_or(u32::MAX),
        }
    }

    /// Which side the key is for.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }
}

impl TxKey {
    /// Borrowed view of this key.
    #[must_use]
    pub fn as_ref(&self) -> TxKeyRef<'_> {
        let (s, m) = (self.sent_by_at as usize, self.method_at as usize);
        TxKeyRef {
            role: self.role,
            branch: self.text.get(..s).unwrap_or_default(),
            sent_by: self.text.get(s..m).unwrap_or_default(),
            method: self.text.get(m..).unwrap_or_default(),
        }
    }

    fn too_long(&self) -> bool {
        let k = self.as_ref();
        k.branch.len() > MAX_KEY_PART
            || k.sent_by.len() > MAX_KEY_PART
            || k.method.len() > MAX_KEY_PART
    }
}

/// Lets `HashMap<TxKey, _>` be searched with a [`TxKeyRef`] (hash and equality go through
/// the borrowed view in both cases, so they agree).
trait KeyView {
    fn view(&self) -> TxKeyRef<'_>;
}

impl KeyView for TxKey {
    fn view(&self) -> TxKeyRef<'_> {
        self.as_ref()
    }
}

impl KeyView for TxKeyRef<'_> {
    fn view(&self) -> TxKeyRef<'_> {
        *self
    }
}

impl Hash for TxKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state);
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.view().hash(state);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl Eq for dyn KeyView + '_ {}

impl<'a> Borrow<dyn KeyView + 'a> for TxKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// A slab index plus generation: stable, cheap to copy into the engine's timer queue, and
/// stale after [`TxTable::remove`] (a recycled slot gets a new generation).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxHandle {
    index: u32,
    generation: u32,
}

impl TxHandle {
    /// Slab index (dense, below the table's capacity).
    #[must_use]
    pub fn index(self) -> u32 {
        self.index
    }

    /// Generation of the slot when the handle was issued.
    #[must_use]
    pub fn generation(self) -> u32 {
        self.generation
    }
}

/// Why [`TxTable::insert`] refused; the value comes back so nothing half-created leaks
/// (STYLE L8 accept / refuse / ignore).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InsertError<T> {
    /// The table is at capacity: answer 503 (see [`InsertError::response_status`]).
    #[error("transaction table full")]
    Full(T),
    /// A transaction with this key exists: the request is a retransmission, route it there.
    #[error("transaction exists")]
    Duplicate(TxHandle, T),
    /// A key part exceeds [`MAX_KEY_PART`]: drop or answer statelessly.
    #[error("transaction key too long")]
    KeyTooLong(T),
}

impl<T> InsertError<T> {
    /// The status to answer a refused request with (RFC 3261 §21.5.4 503 when full,
    /// §21.4.1 400 for an oversized key); `None` for a duplicate (not a refusal).
    #[must_use]
    pub fn response_status(&self) -> Option<StatusCode> {
        match self {
            Self::Full(_) => Some(StatusCode::SERVICE_UNAVAILABLE),
            Self::KeyTooLong(_) => StatusCode::new(400),
            Self::Duplicate(..) => None,
        }
    }

    /// The value that was not inserted.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(t) | Self::Duplicate(_, t) | Self::KeyTooLong(t) => t,
        }
    }
}

/// Counters that move on every table decision (STYLE L8, ARCHITECTURE decision 8).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Transactions accepted.
    pub inserted: u64,
    /// Refused because the table was full (answered 503).
    pub refused_full: u64,
    /// Refused because a key part was too long.
    pub refused_key_too_long: u64,
    /// Insert attempts that found an existing transaction (retransmissions).
    pub duplicates: u64,
    /// Transactions removed.
    pub removed: u64,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    entry: Option<(TxKey, T)>,
}

/// Per-worker transaction table (RFC 3261 §17.1.3 / §17.2.3 matching), bounded to a
/// configured capacity. Keys are peer-chosen, so the map uses a keyed hasher
/// (`ahash::RandomState`) whose seeds the engine supplies — this crate draws no randomness.
#[derive(Debug)]
pub struct TxTable<T> {
    map: HashMap<TxKey, TxHandle, ahash::RandomState>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    capacity: usize,
    stats: TableStats,
}

impl<T> TxTable<T> {
    /// An empty table holding at most `capacity` transactions (capped at `u32::MAX`), hashing
    /// keys with `ahash::RandomState::with_seeds(seeds[0..4])`; the engine draws the seeds
    /// once per worker from the OS RNG.
    #[must_use]
    pub fn new(capacity: usize, seeds: [u64; 4]) -> Self {
        let [a, b, c, d] = seeds;
        Self {
            map: HashMap::with_hasher(ahash::RandomState::with_seeds(a, b, c, d)),
            slots: Vec::new(),
            free: Vec::new(),
            capacity: capacity.min(u32::MAX as usize),
            stats: TableStats::default(),
        }
    }

    /// The transaction matching `key` (RFC 3261 §17.1.3 / §17.2.3), if any.
    #[must_use]
    pub fn find(&self, key: TxKeyRef<'_>) -> Option<TxHandle> {
        self.map.get(&key as &dyn KeyView).copied()
    }

    /// Accepts a new transaction, or refuses it with a typed reason (STYLE L8): full table →
    /// 503, existing key → route to that transaction, oversized key → 400.
    ///
    /// # Errors
    /// [`InsertError`] with the value handed back: `Full` (answer 503), `Duplicate` (route to the
    /// existing transaction) or `KeyTooLong`.
    pub fn insert(&mut self, key: TxKey, value: T) -> Result<TxHandle, InsertError<T>> {
        if key.too_long() {
            self.stats.refused_key_too_long += 1;
            return Err(InsertError::KeyTooLong(value));
        }
        if let Some(h) = self.map.get(&key).copied() {
            self.stats.duplicates += 1;
            return Err(InsertError::Duplicate(h, value));
        }
        if self.map.len() >= self.capacity {
            self.stats.refused_full += 1;
            return Err(InsertError::Full(value));
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let Ok(i) = u32::try_from(self.slots.len()) else {
                    self.stats.refused_full += 1;
                    return Err(InsertError::Full(value));
                };
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                i
            }
        };
        let Some(slot) = self.slots.get_mut(index as usize) else {
            self.stats.refused_full += 1;
            return Err(InsertError::Full(value));
        };
        let handle = TxHandle {
            index,
            generation: slot.generation,
        };
        slot.entry = Some((key.clone(), value));
        self.map.insert(key, handle);
        self.stats.inserted += 1;
        Ok(handle)
    }

    /// The transaction behind `h`, unless it was removed since.
    #[must_use]
    pub fn get(&self, h: TxHandle) -> Option<&T> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.entry.as_ref().map(|(_, v)| v)
    }

    /// Mutable access to the transaction behind `h`, unless it was removed since.
    #[must_use]
    pub fn get_mut(&mut self, h: TxHandle) -> Option<&mut T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.entry.as_mut().map(|(_, v)| v)
    }

    /// Removes the transaction (after `Terminated`); `h` and its copies become stale.
    pub fn remove(&mut self, h: TxHandle) -> Option<T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let (key, value) = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.map.remove(&key);
        self.free.push(h.index);
        self.stats.removed += 1;
        Some(value)
    }

    /// Number of live transactions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when no transaction is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The configured bound.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Decision counters.
    #[must_use]
    pub fn stats(&self) -> TableStats {
        self.stats
    }
}
