//! The per-worker dialog table: dialog identification of [RFC 3261 §12]
//! (Call-ID, local and remote tags), the five dialog states of Kamailio's `dialog` module,
//! a lifetime deadline per dialog, dialog profiles, and a hard capacity (STYLE L8).
//!
//! Sans-IO like the rest of the crate: no clock is read (`now` is an argument of every call
//! that needs one), no randomness is drawn (the hasher seeds come from the engine) and
//! nothing is parsed — the routing layer extracts Call-ID, tags and status codes and feeds
//! them in as [`DialogInput`]s.
//!
//! # Call order
//! 1. An initial INVITE: [`Dialogs::create`] (accept, refuse when full, or find the existing
//!    dialog of a retransmission or spiral).
//! 2. Every response to it and every in-dialog request: [`Dialogs::find`] by Call-ID and
//!    tags, then [`Dialogs::handle`] with the matching [`DialogInput`].
//! 3. [`Dialogs::poll_timeout`] after any call; when it passes, [`Dialogs::handle_timeout`]
//!    (an early or spurious call is a no-op).
//!
//! A dialog that reaches [`DlgState::Deleted`] leaves every profile at once (it no longer
//! counts in [`Dialogs::profile_size`]) and stays matchable for [`DialogConfig::linger`], so
//! that retransmitted BYEs and the BYE's own route still see it; then it is removed.
//!
//! [RFC 3261 §12]: https://www.rfc-editor.org/rfc/rfc3261#section-12

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// Default capacity of one worker's [`Dialogs`] table. A dialog is created for an INVITE a
/// peer sends, so a flood of INVITEs with fresh Call-IDs would grow the table without bound;
/// a full table refuses the new dialog (the script sees `dlg_manage()` fail and answers,
/// typically 503) and [`DialogStats::refused_full`] moves (ARCHITECTURE decision 4).
pub const MAX_DIALOGS_PER_CORE: usize = 65_536;

/// Longest Call-ID or tag accepted into a dialog key. Both are peer-chosen; RFC 3261 sets no
/// limit, real ones are under 128 bytes (STYLE L8).
pub const MAX_DLG_KEY_PART: usize = 256;

/// Most profiles one configuration may declare (`profiles_with_value` plus
/// `profiles_no_value`).
pub const MAX_PROFILES: usize = 64;

/// Most profile memberships one dialog may hold. Kamailio does not deduplicate
/// `set_dlg_profile` calls, so a script looping over it could otherwise grow one dialog
/// without bound.
pub const MAX_PROFILE_LINKS: usize = 16;

/// Longest profile value (`set_dlg_profile("caller", "$fu")`: the value is usually
/// peer-chosen) and longest dialog variable name or value.
pub const MAX_PROFILE_VALUE: usize = 256;

/// Most `$dlg_var(...)` variables one dialog may hold.
pub const MAX_DLG_VARS: usize = 16;

/// The dialog states of Kamailio's `dialog` module (the numbers are `$dlg(state)` and what
/// its RPC interface shows). RFC 3261 §12 knows early and confirmed dialogs; Kamailio adds
/// "INVITE seen, no dialog-creating response yet" and splits confirmed on the ACK.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DlgState {
    /// 1: the initial INVITE was seen, no response with a To-tag yet.
    Unconfirmed = 1,
    /// 2: a provisional response with a To-tag created an early dialog (RFC 3261 §12.1).
    Early = 2,
    /// 3: a 2xx confirmed the dialog; its ACK has not been seen (RFC 3261 §13.2.2.4).
    ConfirmedNoAck = 3,
    /// 4: confirmed and ACKed: an active call.
    Confirmed = 4,
    /// 5: ended by a BYE (RFC 3261 §15), a failure response to the INVITE or a timeout.
    Deleted = 5,
}

impl DlgState {
    /// Kamailio's number for the state (1..=5).
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Short lowercase name, for logs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Unconfirmed => "unconfirmed",
            Self::Early => "early",
            Self::ConfirmedNoAck => "confirmed_na",
            Self::Confirmed => "confirmed",
            Self::Deleted => "deleted",
        }
    }
}

/// What happened to a dialog: the input of [`Dialogs::handle`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DialogInput<'a> {
    /// A 101-199 response to the initial INVITE, with its To-tag if any (a To-tag makes the
    /// dialog early, RFC 3261 §12.1.1; a 100 has none, §8.2.6.2).
    Provisional {
        /// The To-tag of the response.
        to_tag: Option<&'a str>,
    },
    /// A 2xx response to the initial INVITE (RFC 3261 §13.2.2.4) with its To-tag.
    Success {
        /// The To-tag of the response: the remote tag of the dialog (§12.1.2).
        to_tag: Option<&'a str>,
    },
    /// A 300-699 final response to the initial INVITE: no dialog (RFC 3261 §13.2.2.3).
    Failure,
    /// The ACK of the 2xx (RFC 3261 §13.2.2.4).
    Ack,
    /// A BYE in either direction ends the dialog (RFC 3261 §15.1).
    Bye,
    /// Any other in-dialog request (re-INVITE, UPDATE, INFO, ...): restarts the lifetime
    /// unless [`DialogConfig::reset_on_request`] is off.
    Request,
}

/// The effect of one [`Dialogs::handle`] call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The state changed.
    Changed {
        /// Before.
        from: DlgState,
        /// After.
        to: DlgState,
    },
    /// The input means nothing in this state (a retransmitted 2xx, a late 180, an ACK of a
    /// re-INVITE...): nothing changed except, possibly, the deadline.
    Ignored,
}

/// Which way an in-dialog request travels, from the dialog's creator's point of view
/// (RFC 3261 §12.2: the caller's requests carry its tag in From, the callee's in To).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Caller to callee: From-tag is the dialog's from-tag.
    Downstream,
    /// Callee to caller: To-tag is the dialog's from-tag.
    Upstream,
}

/// Why a dialog call was refused (STYLE L7: peer-caused limits apart from API misuse).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// The table holds [`DialogConfig::capacity`] dialogs.
    #[error("dialog table full")]
    TableFull,
    /// A Call-ID or tag is longer than [`MAX_DLG_KEY_PART`], or empty.
    #[error("dialog key part too long or empty")]
    BadKey,
    /// A dialog with this Call-ID and From-tag exists (a retransmission or a spiral).
    #[error("dialog exists")]
    Exists(DlgHandle),
    /// The handle is stale: its dialog was removed (our bug, or a race with a timeout).
    #[error("stale dialog handle")]
    StaleHandle,
    /// The profile id is not one of this table's profiles (our bug).
    #[error("unknown dialog profile")]
    UnknownProfile,
    /// A profile with values was used without a value.
    #[error("profile needs a value")]
    MissingValue,
    /// A profile value or dialog variable is longer than [`MAX_PROFILE_VALUE`].
    #[error("value too long")]
    ValueTooLong,
    /// The dialog already holds [`MAX_PROFILE_LINKS`] memberships or [`MAX_DLG_VARS`]
    /// variables.
    #[error("too many profile memberships or variables on one dialog")]
    TooMany,
    /// The dialog is deleted: it can join no profile.
    #[error("dialog deleted")]
    Deleted,
}

/// Why the profile declarations are unusable (a configuration error, reported at start-up
/// like Kamailio does).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The same name was declared twice.
    #[error("dialog profile '{0}' declared twice")]
    Duplicate(String),
    /// More than [`MAX_PROFILES`] profiles.
    #[error("more than {MAX_PROFILES} dialog profiles")]
    TooMany,
    /// A name that is not a token.
    #[error("bad dialog profile name '{0}'")]
    BadName(String),
}

/// A declared dialog profile (Kamailio `profiles_with_value` / `profiles_no_value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileDef {
    /// The profile's name.
    pub name: Box<str>,
    /// Memberships carry a value (`set_dlg_profile("caller", "$fu")`).
    pub with_value: bool,
}

/// Parses Kamailio's `"a;b;c"` profile lists into definitions (with-value first). Blank
/// entries are skipped; whitespace around names is trimmed.
///
/// # Errors
/// [`ProfileError`] for a duplicate or non-token name, or more than [`MAX_PROFILES`].
pub fn parse_profiles(with_value: &str, no_value: &str) -> Result<Vec<ProfileDef>, ProfileError> {
    let mut out: Vec<ProfileDef> = Vec::new();
    for (list, wv) in [(with_value, true), (no_value, false)] {
        for name in list.split(';').map(str::trim).filter(|n| !n.is_empty()) {
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(ProfileError::BadName(name.to_owned()));
            }
            if out.iter().any(|p| &*p.name == name) {
                return Err(ProfileError::Duplicate(name.to_owned()));
            }
            if out.len() >= MAX_PROFILES {
                return Err(ProfileError::TooMany);
            }
            out.push(ProfileDef {
                name: name.into(),
                with_value: wv,
            });
        }
    }
    Ok(out)
}

/// A profile's index in the table's declarations (resolved once, from the name).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProfileId(u16);

impl ProfileId {
    /// The profile's position in the declarations (0-based).
    #[must_use]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Timeouts and bounds of a [`Dialogs`] table (Kamailio `dialog` modparams).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DialogConfig {
    /// Most dialogs held, deleted ones lingering included. Default [`MAX_DIALOGS_PER_CORE`].
    pub capacity: usize,
    /// Lifetime of a confirmed dialog (`default_timeout`, default 43200 s = 12 h), counted
    /// from the 2xx and restarted by in-dialog requests.
    pub default_timeout: Duration,
    /// Lifetime of an unconfirmed or early dialog (`early_timeout`, default 300 s).
    pub early_timeout: Duration,
    /// How long a 2xx may wait for its ACK (`noack_timeout`, default 60 s).
    pub noack_timeout: Duration,
    /// How long a deleted dialog stays matchable before removal (default 10 s, about a
    /// BYE transaction's lifetime on UDP, RFC 3261 §17.1.2.2 Timer F is 32 s at most; 10 s
    /// covers the BYE's own retransmissions at T2).
    pub linger: Duration,
    /// In-dialog requests restart the lifetime (Kamailio: on unless `timeout_noreset`).
    pub reset_on_request: bool,
    /// First `h_id` handed out (`h_id_start`).
    pub h_id_start: u32,
    /// Step between `h_id`s (`h_id_step`, at least 1).
    pub h_id_step: u32,
}

impl Default for DialogConfig {
    fn default() -> Self {
        Self {
            capacity: MAX_DIALOGS_PER_CORE,
            default_timeout: Duration::from_secs(43_200),
            early_timeout: Duration::from_secs(300),
            noack_timeout: Duration::from_secs(60),
            linger: Duration::from_secs(10),
            reset_on_request: true,
            h_id_start: 1,
            h_id_step: 1,
        }
    }
}

/// Counters that move on every decision (STYLE L8; Kamailio's dialog statistics).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DialogStats {
    /// Dialogs created (`processed_dialogs`).
    pub created: u64,
    /// Creations refused because the table was full.
    pub refused_full: u64,
    /// Creations refused for a bad key.
    pub refused_bad_key: u64,
    /// Creations that found an existing dialog (retransmitted INVITE, spiral).
    pub duplicates: u64,
    /// Dialogs that became early.
    pub early: u64,
    /// Dialogs confirmed by a 2xx.
    pub confirmed: u64,
    /// Dialogs ended by a failure response (`failed_dialogs`).
    pub failed: u64,
    /// Dialogs ended by a BYE.
    pub ended: u64,
    /// Dialogs ended by their deadline (`expired_dialogs`).
    pub expired: u64,
    /// Entries removed from the table.
    pub removed: u64,
}

/// A slab index plus generation; stale once the dialog is removed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DlgHandle {
    index: u32,
    generation: u32,
}

impl DlgHandle {
    /// Slab index: Kamailio's `h_entry` analogue (stable while the dialog lives).
    #[must_use]
    pub fn index(self) -> u32 {
        self.index
    }
}

/// One dialog (RFC 3261 §12: Call-ID, local tag, remote tag; plus Kamailio's bookkeeping).
#[derive(Debug)]
pub struct Dialog {
    call_id: Box<str>,
    from_tag: Box<str>,
    to_tag: Option<Box<str>>,
    state: DlgState,
    h_id: u32,
    created: Instant,
    confirmed_at: Option<Instant>,
    deadline: Instant,
    timeout: Duration,
    links: Vec<(ProfileId, Option<Box<str>>)>,
    vars: Vec<(Box<str>, Box<str>)>,
}

impl Dialog {
    /// The Call-ID (RFC 3261 §12: part of the dialog ID).
    #[must_use]
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The caller's tag: the From-tag of the initial INVITE (§12.1.2 remote tag at the UAS).
    #[must_use]
    pub fn from_tag(&self) -> &str {
        &self.from_tag
    }

    /// The callee's tag, once a response carried one (§12.1.1).
    #[must_use]
    pub fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    /// The state.
    #[must_use]
    pub fn state(&self) -> DlgState {
        self.state
    }

    /// Kamailio's `h_id`: unique per worker table (see [`DialogConfig::h_id_start`]).
    #[must_use]
    pub fn h_id(&self) -> u32 {
        self.h_id
    }

    /// When the dialog was created (the INVITE).
    #[must_use]
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the 2xx confirmed it (Kamailio `start_ts`).
    #[must_use]
    pub fn confirmed_at(&self) -> Option<Instant> {
        self.confirmed_at
    }

    /// When it times out (or, deleted, is removed).
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Its lifetime once confirmed (`default_timeout` unless set per dialog).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A `$dlg_var` variable.
    #[must_use]
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| &**v)
    }
}

/// Key of the table: Call-ID and the caller's From-tag (RFC 3261 §12.2.2 matches on
/// Call-ID and both tags; the To-tag is checked after the lookup, because an early dialog
/// has none yet and forked responses may carry several).
#[derive(Clone, Debug, PartialEq, Eq)]
struct DlgKey {
    call_id: Box<str>,
    from_tag: Box<str>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
struct DlgKeyRef<'a> {
    call_id: &'a str,
    from_tag: &'a str,
}

/// Lets `HashMap<DlgKey, _>` be searched with a [`DlgKeyRef`] without allocating (hash and
/// equality both go through the borrowed view).
trait KeyView {
    fn view(&self) -> DlgKeyRef<'_>;
}

impl KeyView for DlgKey {
    fn view(&self) -> DlgKeyRef<'_> {
        DlgKeyRef {
            call_id: &self.call_id,
            from_tag: &self.from_tag,
        }
    }
}

impl KeyView for DlgKeyRef<'_> {
    fn view(&self) -> DlgKeyRef<'_> {
        *self
    }
}

impl Hash for DlgKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.view().hash(state);
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

impl<'a> Borrow<dyn KeyView + 'a> for DlgKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// Whether a membership's value `have` matches the `want` of a query (`None`: any).
fn same_value(want: Option<&str>, have: Option<&str>) -> bool {
    match want {
        None => true,
        Some(x) => have == Some(x),
    }
}

/// A To-tag fit for a key: not empty, not longer than [`MAX_DLG_KEY_PART`].
fn valid_tag(t: Option<&str>) -> Option<&str> {
    t.filter(|t| !t.is_empty() && t.len() <= MAX_DLG_KEY_PART)
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    dlg: Option<Box<Dialog>>,
}

type Counts = HashMap<Box<str>, usize, ahash::RandomState>;

/// One worker's dialogs, bounded (STYLE L8), with profile counters kept up to date on every
/// change so [`Dialogs::profile_size`] is a lookup, not a scan.
///
/// Per worker by design: every message of a call lands on the worker that owns its Call-ID
/// (ARCHITECTURE §3), so a call's dialog is always found here. A profile size is therefore
/// this worker's share; summing over workers is the caller's business.
#[derive(Debug)]
pub struct Dialogs {
    cfg: DialogConfig,
    map: HashMap<DlgKey, DlgHandle, ahash::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    deadlines: BTreeSet<(Instant, DlgHandle)>,
    profiles: Vec<ProfileDef>,
    totals: Vec<usize>,
    values: Vec<Counts>,
    /// Profile counts changed since [`Dialogs::take_profile_changes`] last ran (the engine
    /// drains it after every message and timer batch, so it holds that batch's changes).
    changed: Vec<(ProfileId, Option<Box<str>>)>,
    seeds: [u64; 4],
    next_h_id: u32,
    live: usize,
    stats: DialogStats,
}

impl Dialogs {
    /// An empty table with the given profiles, hashing peer-chosen keys with
    /// `ahash::RandomState::with_seeds(seeds)` (the engine draws the seeds; this crate draws
    /// no randomness).
    #[must_use]
    pub fn new(cfg: DialogConfig, profiles: Vec<ProfileDef>, seeds: [u64; 4]) -> Self {
        let [a, b, c, d] = seeds;
        let n = profiles.len().min(MAX_PROFILES);
        let mut profiles = profiles;
        profiles.truncate(n);
        Self {
            cfg: DialogConfig {
                h_id_step: cfg.h_id_step.max(1),
                capacity: cfg.capacity.min(u32::MAX as usize),
                ..cfg
            },
            map: HashMap::with_hasher(ahash::RandomState::with_seeds(a, b, c, d)),
            slots: Vec::new(),
            free: Vec::new(),
            deadlines: BTreeSet::new(),
            totals: vec![0; n],
            values: (0..n)
                .map(|_| HashMap::with_hasher(ahash::RandomState::with_seeds(b, c, d, a)))
                .collect(),
            profiles,
            changed: Vec::new(),
            seeds,
            next_h_id: cfg.h_id_start,
            live: 0,
            stats: DialogStats::default(),
        }
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &DialogConfig {
        &self.cfg
    }

    /// The seeds the table was built with (for a rebuilt table with the same hashing).
    #[must_use]
    pub fn seeds(&self) -> [u64; 4] {
        self.seeds
    }

    /// The declared profiles.
    #[must_use]
    pub fn profiles(&self) -> &[ProfileDef] {
        &self.profiles
    }

    /// The id of the profile named `name`.
    #[must_use]
    pub fn profile_id(&self, name: &str) -> Option<ProfileId> {
        self.profiles
            .iter()
            .position(|p| &*p.name == name)
            .and_then(|i| u16::try_from(i).ok())
            .map(ProfileId)
    }

    /// Creates the dialog of an initial INVITE (RFC 3261 §12.1) in state
    /// [`DlgState::Unconfirmed`], with the early deadline.
    ///
    /// # Errors
    /// [`DialogError::Exists`] with the existing dialog (a retransmission or a spiral: use
    /// it), [`DialogError::TableFull`], [`DialogError::BadKey`].
    pub fn create(
        &mut self,
        now: Instant,
        call_id: &str,
        from_tag: &str,
    ) -> Result<DlgHandle, DialogError> {
        if call_id.is_empty()
            || from_tag.is_empty()
            || call_id.len() > MAX_DLG_KEY_PART
            || from_tag.len() > MAX_DLG_KEY_PART
        {
            self.stats.refused_bad_key += 1;
            return Err(DialogError::BadKey);
        }
        let key = DlgKeyRef { call_id, from_tag };
        if let Some(h) = self.map.get(&key as &dyn KeyView).copied() {
            self.stats.duplicates += 1;
            return Err(DialogError::Exists(h));
        }
        if self.map.len() >= self.cfg.capacity {
            self.stats.refused_full += 1;
            return Err(DialogError::TableFull);
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let Ok(i) = u32::try_from(self.slots.len()) else {
                    self.stats.refused_full += 1;
                    return Err(DialogError::TableFull);
                };
                self.slots.push(Slot {
                    generation: 0,
                    dlg: None,
                });
                i
            }
        };
        let Some(slot) = self.slots.get_mut(index as usize) else {
            self.stats.refused_full += 1;
            return Err(DialogError::TableFull);
        };
        let h = DlgHandle {
            index,
            generation: slot.generation,
        };
        let h_id = self.next_h_id;
        self.next_h_id = self.next_h_id.wrapping_add(self.cfg.h_id_step);
        let deadline = now + self.cfg.early_timeout;
        slot.dlg = Some(Box::new(Dialog {
            call_id: call_id.into(),
            from_tag: from_tag.into(),
            to_tag: None,
            state: DlgState::Unconfirmed,
            h_id,
            created: now,
            confirmed_at: None,
            deadline,
            timeout: self.cfg.default_timeout,
            links: Vec::new(),
            vars: Vec::new(),
        }));
        self.map.insert(
            DlgKey {
                call_id: call_id.into(),
                from_tag: from_tag.into(),
            },
            h,
        );
        self.deadlines.insert((deadline, h));
        self.live += 1;
        self.stats.created += 1;
        Ok(h)
    }

    /// The dialog a message belongs to (RFC 3261 §12.2.2): by Call-ID and From-tag when the
    /// caller sends it, by Call-ID and To-tag when the callee does. Once the dialog knows
    /// its remote tag, the other tag must equal it; an early dialog matches any To-tag
    /// (forked early dialogs share the INVITE's dialog here, as in Kamailio).
    #[must_use]
    pub fn find(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: Option<&str>,
    ) -> Option<(DlgHandle, Direction)> {
        let down = DlgKeyRef { call_id, from_tag };
        if let Some(h) = self.map.get(&down as &dyn KeyView).copied() {
            let d = self.get(h)?;
            let ok = match (d.to_tag.as_deref(), to_tag) {
                (Some(ours), Some(theirs)) => ours == theirs,
                _ => true,
            };
            if ok {
                return Some((h, Direction::Downstream));
            }
        }
        let to_tag = to_tag?;
        let up = DlgKeyRef {
            call_id,
            from_tag: to_tag,
        };
        let h = self.map.get(&up as &dyn KeyView).copied()?;
        let d = self.get(h)?;
        (d.to_tag.as_deref() == Some(from_tag)).then_some((h, Direction::Upstream))
    }

    /// The dialog behind `h`, unless it was removed since.
    #[must_use]
    pub fn get(&self, h: DlgHandle) -> Option<&Dialog> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.dlg.as_deref()
    }

    fn get_mut(&mut self, h: DlgHandle) -> Option<&mut Dialog> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.dlg.as_deref_mut()
    }

    fn set_deadline(&mut self, h: DlgHandle, at: Instant) {
        let Some(d) = self.get_mut(h) else { return };
        let old = std::mem::replace(&mut d.deadline, at);
        self.deadlines.remove(&(old, h));
        self.deadlines.insert((at, h));
    }

    /// Feeds one event of dialog `h` through the state machine (Kamailio `dlg_onreply`,
    /// `dlg_onroute`): see [`DialogInput`] for what each input means in which state.
    ///
    /// # Errors
    /// [`DialogError::StaleHandle`] when the dialog was removed.
    pub fn handle(
        &mut self,
        h: DlgHandle,
        now: Instant,
        input: DialogInput<'_>,
    ) -> Result<Transition, DialogError> {
        let cfg = self.cfg;
        let d = self.get_mut(h).ok_or(DialogError::StaleHandle)?;
        let from = d.state;
        let (to, deadline) = match (from, input) {
            (DlgState::Unconfirmed, DialogInput::Provisional { to_tag }) => {
                match valid_tag(to_tag) {
                    Some(_) => (DlgState::Early, None),
                    None => return Ok(Transition::Ignored),
                }
            }
            (DlgState::Unconfirmed | DlgState::Early, DialogInput::Success { to_tag }) => {
                if let Some(t) = valid_tag(to_tag) {
                    d.to_tag = Some(t.into());
                }
                d.confirmed_at = Some(now);
                let wait = cfg.noack_timeout.min(d.timeout);
                (DlgState::ConfirmedNoAck, Some(now + wait))
            }
            (DlgState::Unconfirmed | DlgState::Early, DialogInput::Failure) => {
                (DlgState::Deleted, Some(now + cfg.linger))
            }
            (DlgState::ConfirmedNoAck, DialogInput::Ack) => {
                let start = d.confirmed_at.unwrap_or(now);
                (DlgState::Confirmed, Some((start + d.timeout).max(now)))
            }
            (DlgState::Deleted, _) => return Ok(Transition::Ignored),
            (_, DialogInput::Bye) => (DlgState::Deleted, Some(now + cfg.linger)),
            (DlgState::ConfirmedNoAck | DlgState::Confirmed, DialogInput::Request)
                if cfg.reset_on_request =>
            {
                // A sequential request restarts the lifetime; the state stays.
                let at = now + d.timeout;
                if d.state == DlgState::Confirmed {
                    self.set_deadline(h, at);
                }
                return Ok(Transition::Ignored);
            }
            _ => return Ok(Transition::Ignored),
        };
        d.state = to;
        match to {
            DlgState::Early => self.stats.early += 1,
            DlgState::ConfirmedNoAck => self.stats.confirmed += 1,
            DlgState::Deleted => {
                if matches!(input, DialogInput::Bye) {
                    self.stats.ended += 1;
                } else {
                    self.stats.failed += 1;
                }
                self.unlink_all(h);
            }
            _ => {}
        }
        if let Some(at) = deadline {
            self.set_deadline(h, at);
        }
        Ok(Transition::Changed { from, to })
    }

    /// Sets dialog `h`'s lifetime (Kamailio `timeout_avp` / `dlg_set_timeout`): a confirmed
    /// dialog's deadline moves to `now + timeout`; an earlier one keeps its early deadline
    /// and gets `timeout` once confirmed.
    ///
    /// # Errors
    /// [`DialogError::StaleHandle`].
    pub fn set_timeout(
        &mut self,
        h: DlgHandle,
        now: Instant,
        timeout: Duration,
    ) -> Result<(), DialogError> {
        let d = self.get_mut(h).ok_or(DialogError::StaleHandle)?;
        d.timeout = timeout;
        if matches!(d.state, DlgState::Confirmed) {
            self.set_deadline(h, now + timeout);
        }
        Ok(())
    }

    /// The dialog stops being live: it leaves every profile (the counts drop, memberships
    /// are forgotten). Called once per dialog, on its way to [`DlgState::Deleted`].
    fn unlink_all(&mut self, h: DlgHandle) {
        let Some(d) = self.get_mut(h) else { return };
        let links = std::mem::take(&mut d.links);
        for (p, v) in &links {
            self.count(*p, v.as_deref(), false);
        }
        self.live = self.live.saturating_sub(1);
    }

    fn count(&mut self, p: ProfileId, v: Option<&str>, up: bool) {
        self.changed.push((p, v.map(Into::into)));
        let i = usize::from(p.0);
        if let Some(t) = self.totals.get_mut(i) {
            *t = if up { *t + 1 } else { t.saturating_sub(1) };
        }
        let (Some(v), Some(map)) = (v, self.values.get_mut(i)) else {
            return;
        };
        if up {
            *map.entry(v.into()).or_insert(0) += 1;
        } else if let Some(c) = map.get_mut(v) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                map.remove(v);
            }
        }
    }

    /// Adds dialog `h` to profile `p` (Kamailio `set_dlg_profile`). A value given to a
    /// profile without values is discarded; like Kamailio, adding the same membership twice
    /// counts twice.
    ///
    /// # Errors
    /// [`DialogError::MissingValue`] for a value profile without a value,
    /// [`DialogError::ValueTooLong`], [`DialogError::TooMany`], [`DialogError::Deleted`],
    /// [`DialogError::UnknownProfile`], [`DialogError::StaleHandle`].
    pub fn set_profile(
        &mut self,
        h: DlgHandle,
        p: ProfileId,
        value: Option<&str>,
    ) -> Result<(), DialogError> {
        let def = self
            .profiles
            .get(usize::from(p.0))
            .ok_or(DialogError::UnknownProfile)?;
        let value = match (def.with_value, value) {
            (false, _) => None,
            (true, None) => return Err(DialogError::MissingValue),
            (true, Some(v)) if v.len() > MAX_PROFILE_VALUE => {
                return Err(DialogError::ValueTooLong)
            }
            (true, Some(v)) => Some(v),
        };
        let d = self.get_mut(h).ok_or(DialogError::StaleHandle)?;
        if d.state == DlgState::Deleted {
            return Err(DialogError::Deleted);
        }
        if d.links.len() >= MAX_PROFILE_LINKS {
            return Err(DialogError::TooMany);
        }
        d.links.push((p, value.map(Into::into)));
        self.count(p, value, true);
        Ok(())
    }

    /// Removes one membership of dialog `h` in profile `p` (Kamailio `unset_dlg_profile`):
    /// with `value`, the membership with that value; without, the first one. `Ok(false)`:
    /// it was not a member.
    ///
    /// # Errors
    /// [`DialogError::UnknownProfile`], [`DialogError::StaleHandle`].
    pub fn unset_profile(
        &mut self,
        h: DlgHandle,
        p: ProfileId,
        value: Option<&str>,
    ) -> Result<bool, DialogError> {
        let with_value = self
            .profiles
            .get(usize::from(p.0))
            .ok_or(DialogError::UnknownProfile)?
            .with_value;
        let value = value.filter(|_| with_value);
        let d = self.get_mut(h).ok_or(DialogError::StaleHandle)?;
        let Some(i) = d
            .links
            .iter()
            .position(|(q, v)| *q == p && same_value(value, v.as_deref()))
        else {
            return Ok(false);
        };
        let (_, v) = d.links.remove(i);
        self.count(p, v.as_deref(), false);
        Ok(true)
    }

    /// Whether dialog `h` is in profile `p` (with `value`, if the profile has values and
    /// one is given; Kamailio `is_in_profile`). A stale handle is in no profile.
    #[must_use]
    pub fn in_profile(&self, h: DlgHandle, p: ProfileId, value: Option<&str>) -> bool {
        let with_value = self
            .profiles
            .get(usize::from(p.0))
            .is_some_and(|d| d.with_value);
        let value = value.filter(|_| with_value);
        self.get(h).is_some_and(|d| {
            d.links
                .iter()
                .any(|(q, v)| *q == p && same_value(value, v.as_deref()))
        })
    }

    /// How many memberships of non-deleted dialogs profile `p` holds, restricted to
    /// `value` when the profile has values and one is given (Kamailio `get_profile_size`).
    /// This worker's dialogs only.
    #[must_use]
    pub fn profile_size(&self, p: ProfileId, value: Option<&str>) -> usize {
        let i = usize::from(p.0);
        let with_value = self.profiles.get(i).is_some_and(|d| d.with_value);
        match value.filter(|_| with_value) {
            Some(v) => self
                .values
                .get(i)
                .and_then(|m| m.get(v))
                .copied()
                .unwrap_or(0),
            None => self.totals.get(i).copied().unwrap_or(0),
        }
    }

    /// Hands every profile count that changed since the last call to `f` as
    /// `(profile, value, total, value_count)`: the profile's total here and, for a value
    /// membership, that value's count here (0 once the last one left). The engine publishes
    /// them so that every worker sees the process-wide sizes.
    pub fn take_profile_changes(
        &mut self,
        mut f: impl FnMut(ProfileId, Option<&str>, usize, usize),
    ) {
        let changed = std::mem::take(&mut self.changed);
        for (p, v) in &changed {
            let total = self.profile_size(*p, None);
            let count = v.as_deref().map_or(0, |v| self.profile_size(*p, Some(v)));
            f(*p, v.as_deref(), total, count);
        }
        self.changed = changed;
        self.changed.clear();
    }

    /// Sets (or, with `None`, removes) the `$dlg_var(name)` of dialog `h`.
    ///
    /// # Errors
    /// [`DialogError::ValueTooLong`], [`DialogError::TooMany`], [`DialogError::StaleHandle`].
    pub fn set_var(
        &mut self,
        h: DlgHandle,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), DialogError> {
        if name.len() > MAX_PROFILE_VALUE || value.is_some_and(|v| v.len() > MAX_PROFILE_VALUE) {
            return Err(DialogError::ValueTooLong);
        }
        let d = self.get_mut(h).ok_or(DialogError::StaleHandle)?;
        let at = d.vars.iter().position(|(n, _)| &**n == name);
        match (at, value) {
            (Some(i), Some(v)) => {
                if let Some(slot) = d.vars.get_mut(i) {
                    slot.1 = v.into();
                }
            }
            (Some(i), None) => {
                d.vars.remove(i);
            }
            (None, Some(v)) => {
                if d.vars.len() >= MAX_DLG_VARS {
                    return Err(DialogError::TooMany);
                }
                d.vars.push((name.into(), v.into()));
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// The earliest deadline: a dialog times out, or a deleted one is due for removal.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Handles every deadline up to `now`: a live dialog becomes [`DlgState::Deleted`]
    /// (leaving its profiles) and lingers; a deleted one is removed. Returns how many live
    /// dialogs timed out. Early or spurious calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        while let Some(&(at, h)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            let again = now + self.cfg.linger;
            let Some(d) = self.get_mut(h) else { continue };
            if d.state == DlgState::Deleted {
                self.remove(h);
                continue;
            }
            d.state = DlgState::Deleted;
            d.deadline = again;
            self.deadlines.insert((again, h));
            self.unlink_all(h);
            self.stats.expired += 1;
            expired += 1;
        }
        expired
    }

    /// Removes dialog `h` at once (whatever its state); its handle becomes stale.
    pub fn remove(&mut self, h: DlgHandle) -> Option<Box<Dialog>> {
        let live = self.get(h)?.state != DlgState::Deleted;
        if live {
            self.unlink_all(h);
        }
        let slot = self.slots.get_mut(h.index as usize)?;
        let d = slot.dlg.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.deadlines.remove(&(d.deadline, h));
        self.map.remove(&DlgKeyRef {
            call_id: &d.call_id,
            from_tag: &d.from_tag,
        } as &dyn KeyView);
        self.free.push(h.index);
        self.stats.removed += 1;
        Some(d)
    }

    /// Entries in the table, lingering deleted dialogs included (what the capacity bounds).
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when the table holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Dialogs not deleted (Kamailio `active_dialogs` + `early_dialogs`).
    #[must_use]
    pub fn live(&self) -> usize {
        self.live
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> DialogStats {
        self.stats
    }
}

#[cfg(test)]
#[path = "dialog_tests.rs"]
mod tests;
