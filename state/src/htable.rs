//! Kamailio's `htable`: named, process-wide hash tables of string or integer values with
//! per-item expiry, shared by every worker.
//!
//! # Definition
//! [`HtableDef::parse`] reads Kamailio's `modparam("htable", "htable", ..)` value:
//! `name=>size=N;autoexpire=S;dbtable=T;dbmode=0|1;initval=I;updateexpire=0|1;`
//! `dmqreplicate=0|1;cols='k,v1,v2';coldelim=C;colnull=S`. `size` gives 2^N slots (Kamailio's
//! range: below 2 becomes 3, above 31 becomes 14). ferrosip uses the slot count only to
//! choose how many shards the table has (at most [`MAX_SHARDS`]); slots do not limit the items.
//!
//! # Bound
//! Items are bounded by a byte budget shared by every table of the process ([`HtBudget`],
//! derived by the caller from `-m`): an item costs its key and value lengths plus
//! [`ITEM_OVERHEAD`]. When a write would go over the budget it fails with
//! [`HtError::Full`]: nothing is stored, [`Htable::full_count`] moves, and the caller (the
//! script) logs it and goes on, like Kamailio when its shared memory is exhausted.
//!
//! # Time
//! This module never reads the clock: every call that may look at expiry takes `now`, in
//! whole seconds since the Unix epoch. An item with `expires != 0` and `expires <= now` is
//! gone: reads do not see it, writes replace it, and its memory is reclaimed by
//! [`Htable::expire`] (the caller's timer) or by the next write that finds the budget spent.
//!
//! # Concurrency
//! A table is split into shards by an ahash of the key (seeded by the caller: this crate draws
//! no randomness); each shard is a `RwLock`ed map, so readers on different workers do not
//! wait for each other and writers only hold one shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use regex::Regex;

/// Bytes an item costs on top of its key and value (map entry, expiry, allocation headers).
pub const ITEM_OVERHEAD: usize = 64;
/// Most shards one table has.
pub const MAX_SHARDS: usize = 64;
/// Longest key accepted (longer keys fail with [`HtError::TooLong`]).
pub const MAX_KEY_LEN: usize = 4096;
/// Longest string value accepted.
pub const MAX_VALUE_LEN: usize = 65536;

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HtValue {
    /// An integer (`value_type` 1).
    Int(i64),
    /// A string (`value_type` 0).
    Str(Box<str>),
}

impl HtValue {
    fn cost(&self) -> usize {
        match self {
            Self::Int(_) => 0,
            Self::Str(s) => s.len(),
        }
    }
}

/// A parsed `htable` definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtableDef {
    /// The table name used in `$sht(name=>key)`.
    pub name: String,
    /// `size`: the table has `2^size` slots (after Kamailio's clamping).
    pub size: u32,
    /// `autoexpire`: seconds without update after which an item is gone; 0 never.
    pub autoexpire: u32,
    /// `dbtable`: the database table loaded at start, if any.
    pub dbtable: Option<String>,
    /// `dbmode`: 1 asks Kamailio to write the table back at shutdown (not done by ferrosip).
    pub dbmode: u32,
    /// `initval`: the integer a missing key reads as, instead of `$null`.
    pub initval: Option<i64>,
    /// `updateexpire` (default on): an update restarts the item's expiry.
    pub updateexpire: bool,
    /// `dmqreplicate`: replicate to DMQ peers (accepted; ferrosip has no DMQ).
    pub dmqreplicate: bool,
    /// `cols`: the columns loaded from `dbtable` (first: key name, others: values joined
    /// with `coldelim`); empty: the module's key_name/key_type/value_type/key_value columns.
    pub cols: Vec<String>,
    /// `coldelim`: separator of packed `cols` values (default `,`).
    pub coldelim: char,
    /// `colnull`: text packed for a NULL `cols` value (default empty).
    pub colnull: String,
}

/// A bad `htable` definition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("htable definition '{spec}': {msg}")]
pub struct HtDefError {
    /// The definition as given.
    pub spec: String,
    /// What is wrong.
    pub msg: String,
}

impl HtableDef {
    /// Parses `name=>attr=value;attr=value;...` (Kamailio's `htable` parameter).
    pub fn parse(spec: &str) -> Result<Self, HtDefError> {
        let e = |msg: String| HtDefError {
            spec: spec.to_string(),
            msg,
        };
        let Some((name, attrs)) = spec.split_once("=>") else {
            return Err(e("expected name=>attributes".into()));
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(e(format!(
                "bad table name '{name}' (letters, digits, '_', '-', '.')"
            )));
        }
        let mut d = Self {
            name: name.to_string(),
            size: 4,
            autoexpire: 0,
            dbtable: None,
            dbmode: 0,
            initval: None,
            updateexpire: true,
            dmqreplicate: false,
            cols: Vec::new(),
            coldelim: ',',
            colnull: String::new(),
        };
        for attr in split_attrs(attrs) {
            let attr = attr.trim();
            if attr.is_empty() {
                continue;
            }
            let (k, v) = match attr.split_once('=') {
                Some((k, v)) => (k.trim(), unquote(v.trim())),
                None => (attr, ""),
            };
            let int = |v: &str| {
                v.parse::<i64>()
                    .map_err(|_| e(format!("{k} needs an integer, not '{v}'")))
            };
            let uint = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| e(format!("{k} needs a non-negative integer, not '{v}'")))
            };
            match k {
                "size" => {
                    let n = int(v)?;
                    d.size = if n < 2 {
                        3
                    } else if n > 31 {
                        14
                    } else {
                        n as u32
                    };
                }
                "autoexpire" => d.autoexpire = uint(v)?,
                "dbtable" => d.dbtable = (!v.is_empty()).then(|| v.to_string()),
                "dbmode" => d.dbmode = uint(v)?,
                "initval" => d.initval = Some(int(v)?),
                "updateexpire" => d.updateexpire = uint(v)? != 0,
                "dmqreplicate" => d.dmqreplicate = uint(v)? != 0,
                "cols" => {
                    d.cols = v.split(',').map(|c| c.trim().to_string()).collect();
                    if d.cols.len() < 2 || d.cols.iter().any(String::is_empty) {
                        return Err(e(format!(
                            "cols needs at least two column names, not '{v}'"
                        )));
                    }
                }
                "coldelim" => {
                    let mut c = v.chars();
                    match (c.next(), c.next()) {
                        (Some(ch), None) => d.coldelim = ch,
                        _ => return Err(e(format!("coldelim needs one character, not '{v}'"))),
                    }
                }
                "colnull" => d.colnull = v.to_string(),
                _ => return Err(e(format!("unknown attribute '{k}'"))),
            }
        }
        Ok(d)
    }

    /// Number of slots: `2^size`.
    pub fn slots(&self) -> usize {
        1usize << self.size.min(31)
    }
}

/// Splits at `;` outside quotes.
fn split_attrs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(v: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(x) = v.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            return x;
        }
    }
    v
}

/// Why a write was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HtError {
    /// The shared budget is spent (see the module docs): nothing was stored.
    #[error("htable memory budget exhausted ({limit} bytes)")]
    Full {
        /// The budget in bytes.
        limit: usize,
    },
    /// The key or value is longer than [`MAX_KEY_LEN`] / [`MAX_VALUE_LEN`].
    #[error("key or value too long")]
    TooLong,
    /// `$shtinc` on an item holding a string.
    #[error("the item holds a string, not an integer")]
    NotInt,
}

/// The byte budget every table of a process draws from.
#[derive(Debug)]
pub struct HtBudget {
    limit: usize,
    used: AtomicUsize,
}

impl HtBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes in use by the items of every table.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }
}

#[derive(Debug)]
struct Item {
    value: HtValue,
    /// Unix seconds; 0: never.
    expires: u64,
}

impl Item {
    fn live(&self, now: u64) -> bool {
        self.expires == 0 || self.expires > now
    }
}

type Map = HashMap<Box<str>, Item, ahash::RandomState>;
type Shard = RwLock<Map>;

/// How `$shtcn`/`$shtcv` and `sht_has_*`/`sht_rm_*` match names or values.
#[derive(Clone, Debug)]
pub enum HtMatch {
    /// A regular expression (`~~re`, or an expression with no operator prefix).
    Re(Regex),
    /// Starts with (`%~prefix`, or op `sw`).
    Prefix(String),
    /// Ends with (`~%suffix`).
    Suffix(String),
    /// Equal strings (`==s`, or op `eq`).
    Eq(String),
    /// Not equal strings (op `ne`).
    Ne(String),
    /// An integer value equal to this (`eqN`; names never match).
    IntEq(i64),
    /// Everything (`**`).
    All,
}

impl HtMatch {
    /// Parses Kamailio's `$shtcn`/`$shtcv` expression: `~~re`, `~%suffix`, `%~prefix`,
    /// `==str`, `eqINT`, `**`, otherwise the whole text is a regular expression.
    pub fn parse_expr(e: &str) -> Result<Self, regex::Error> {
        let (op, rest) = e.split_at(e.len().min(2));
        let rest = rest.to_string();
        Ok(match op {
            "~~" if e.len() > 2 => Self::Re(re(&rest)?),
            "~%" if e.len() > 2 => Self::Suffix(rest),
            "%~" if e.len() > 2 => Self::Prefix(rest),
            "==" if e.len() > 2 => Self::Eq(rest),
            "eq" if e.len() > 2 => match rest.trim().parse() {
                Ok(i) => Self::IntEq(i),
                Err(_) => Self::Eq(rest),
            },
            "**" => Self::All,
            _ => Self::Re(re(e)?),
        })
    }

    /// Parses the `(op, val)` pair of `sht_rm_name`, `sht_has_name` & co.: `re`, `sw`, `eq`,
    /// `ne`. `None` for an unknown operator.
    pub fn parse_op(op: &str, val: &str) -> Option<Result<Self, regex::Error>> {
        Some(match op {
            "re" => re(val).map(Self::Re),
            "sw" => Ok(Self::Prefix(val.to_string())),
            "eq" => Ok(Self::Eq(val.to_string())),
            "ne" => Ok(Self::Ne(val.to_string())),
            _ => return None,
        })
    }

    fn name(&self, s: &str) -> bool {
        match self {
            Self::Re(r) => r.is_match(s),
            Self::Prefix(p) => s.starts_with(p.as_str()),
            Self::Suffix(p) => s.ends_with(p.as_str()),
            Self::Eq(p) => s == p,
            Self::Ne(p) => s != p,
            Self::IntEq(_) => false,
            Self::All => true,
        }
    }

    fn value(&self, v: &HtValue) -> bool {
        match (self, v) {
            (Self::All, _) => true,
            (Self::IntEq(i), HtValue::Int(x)) => i == x,
            (_, HtValue::Str(s)) => self.name(s),
            _ => false,
        }
    }
}

/// Kamailio compiles these with REG_EXTENDED|REG_ICASE.
fn re(s: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(s)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
}

/// One hash table.
#[derive(Debug)]
pub struct Htable {
    def: HtableDef,
    hasher: ahash::RandomState,
    shards: Box<[Shard]>,
    budget: Arc<HtBudget>,
    full: AtomicU64,
}

impl Htable {
    /// An empty table for `def`, drawing on `budget`, hashing with `seeds`.
    pub fn new(def: HtableDef, budget: Arc<HtBudget>, seeds: [u64; 4]) -> Self {
        let n = def.slots().clamp(1, MAX_SHARDS);
        let [a, b, c, d] = seeds;
        let shards = (0..n)
            .map(|_| {
                RwLock::new(HashMap::with_hasher(ahash::RandomState::with_seeds(
                    a, b, c, d,
                )))
            })
            .collect();
        Self {
            def,
            hasher: ahash::RandomState::with_seeds(d, c, b, a),
            shards,
            budget,
            full: AtomicU64::new(0),
        }
    }

    /// The definition.
    pub fn def(&self) -> &HtableDef {
        &self.def
    }

    /// Writes refused because the budget was spent, since start.
    pub fn full_count(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }

    fn shard(&self, key: &str) -> &Shard {
        let h = self.hasher.hash_one(key) as usize;
        // shards.len() >= 1 by construction
        &self.shards[h % self.shards.len()]
    }

    /// Runs `f` on the live value of `key` (`None` when missing or expired) under the
    /// shard's read lock, so the caller copies what it needs without an allocation here.
    pub fn get_with<R>(&self, key: &str, now: u64, f: impl FnOnce(Option<&HtValue>) -> R) -> R {
        let m = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f(m.get(key).filter(|i| i.live(now)).map(|i| &i.value))
    }

    /// A copy of the live value of `key`.
    pub fn get(&self, key: &str, now: u64) -> Option<HtValue> {
        self.get_with(key, now, |v| v.cloned())
    }

    /// Stores `value` under `key`. A new item (or, with `updateexpire`, an updated one)
    /// expires `autoexpire` seconds after `now`.
    pub fn set(&self, key: &str, value: HtValue, now: u64) -> Result<(), HtError> {
        self.put(key, value, now, self.auto_expiry(now))
    }

    /// Stores `value` under `key` with an absolute expiry (Unix seconds, 0 never): loading
    /// from a database with `db_expires`.
    pub fn set_with_expiry(
        &self,
        key: &str,
        value: HtValue,
        now: u64,
        expires: u64,
    ) -> Result<(), HtError> {
        self.put(key, value, now, Some(expires))
    }

    /// `exp`: `Some(e)`: set the expiry to `e` (new items, or updates with updateexpire);
    /// `None`: never for new items, keep for updates.
    fn put(&self, key: &str, value: HtValue, now: u64, exp: Option<u64>) -> Result<(), HtError> {
        let mut m = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.put_locked(&mut m, key, value, now, exp)
    }

    fn put_locked(
        &self,
        m: &mut Map,
        key: &str,
        value: HtValue,
        now: u64,
        exp: Option<u64>,
    ) -> Result<(), HtError> {
        if key.len() > MAX_KEY_LEN || value.cost() > MAX_VALUE_LEN {
            return Err(HtError::TooLong);
        }
        let new_cost = key.len() + value.cost() + ITEM_OVERHEAD;
        if let Some(it) = m.get_mut(key) {
            let old_cost = key.len() + it.value.cost() + ITEM_OVERHEAD;
            let live = it.live(now);
            if new_cost > old_cost && !self.budget.take(new_cost - old_cost) {
                self.full.fetch_add(1, Ordering::Relaxed);
                return Err(HtError::Full {
                    limit: self.budget.limit(),
                });
            }
            self.budget.give(old_cost.saturating_sub(new_cost));
            it.value = value;
            if !live || self.def.updateexpire {
                it.expires = exp.unwrap_or(if live { it.expires } else { 0 });
            }
            return Ok(());
        }
        if !self.budget.take(new_cost) {
            // reclaim this shard's expired items and try once more
            self.sweep_shard(m, now);
            if !self.budget.take(new_cost) {
                self.full.fetch_add(1, Ordering::Relaxed);
                return Err(HtError::Full {
                    limit: self.budget.limit(),
                });
            }
        }
        m.insert(
            key.into(),
            Item {
                value,
                expires: exp.unwrap_or(0),
            },
        );
        Ok(())
    }

    fn auto_expiry(&self, now: u64) -> Option<u64> {
        (self.def.autoexpire > 0).then(|| now.saturating_add(u64::from(self.def.autoexpire)))
    }

    /// Adds `delta` to the integer under `key` and returns the result (`$shtinc`/`$shtdec`),
    /// atomically; a missing item starts from `initval` (or 0). A string item is an error.
    pub fn add(&self, key: &str, delta: i64, now: u64) -> Result<i64, HtError> {
        let mut m = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(it) = m.get_mut(key).filter(|i| i.live(now)) {
            let HtValue::Int(v) = &mut it.value else {
                return Err(HtError::NotInt);
            };
            *v = v.wrapping_add(delta);
            let r = *v;
            if self.def.updateexpire {
                if let Some(e) = self.auto_expiry(now) {
                    it.expires = e;
                }
            }
            return Ok(r);
        }
        let v = self.def.initval.unwrap_or(0).wrapping_add(delta);
        let exp = self.auto_expiry(now);
        self.put_locked(&mut m, key, HtValue::Int(v), now, exp)?;
        Ok(v)
    }

    /// Removes `key`; whether it was there (live).
    pub fn remove(&self, key: &str, now: u64) -> bool {
        let mut m = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match m.remove(key) {
            Some(it) => {
                self.budget
                    .give(key.len() + it.value.cost() + ITEM_OVERHEAD);
                it.live(now)
            }
            None => false,
        }
    }

    /// Seconds until `key` expires: `Some(0)` when it never does, `None` when it is missing.
    pub fn expires_in(&self, key: &str, now: u64) -> Option<u64> {
        let m = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        m.get(key)
            .filter(|i| i.live(now))
            .map(|i| if i.expires == 0 { 0 } else { i.expires - now })
    }

    /// Sets `key` to expire `secs` after `now` (0: never); false when it is missing.
    pub fn set_expires_in(&self, key: &str, secs: u64, now: u64) -> bool {
        let mut m = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match m.get_mut(key).filter(|i| i.live(now)) {
            Some(it) => {
                it.expires = if secs == 0 {
                    0
                } else {
                    now.saturating_add(secs)
                };
                true
            }
            None => false,
        }
    }

    /// Removes every item (`sht_reset`).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            let mut m = s.write().unwrap_or_else(PoisonError::into_inner);
            let freed: usize = m
                .iter()
                .map(|(k, it)| k.len() + it.value.cost() + ITEM_OVERHEAD)
                .sum();
            m.clear();
            self.budget.give(freed);
        }
    }

    /// Removes the items whose name (`by_value` false) or string value matches; how many.
    pub fn remove_matching(&self, m: &HtMatch, by_value: bool) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut map = s.write().unwrap_or_else(PoisonError::into_inner);
            let mut freed = 0;
            map.retain(|k, it| {
                let hit = if by_value {
                    matches!(it.value, HtValue::Str(_)) && m.value(&it.value)
                } else {
                    m.name(k)
                };
                if hit {
                    freed += k.len() + it.value.cost() + ITEM_OVERHEAD;
                    n += 1;
                }
                !hit
            });
            self.budget.give(freed);
        }
        n
    }

    /// Counts the live items whose name (`by_value` false) or value matches.
    pub fn count_matching(&self, m: &HtMatch, by_value: bool, now: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let map = s.read().unwrap_or_else(PoisonError::into_inner);
                map.iter()
                    .filter(|(k, it)| {
                        it.live(now)
                            && if by_value {
                                m.value(&it.value)
                            } else {
                                m.name(k)
                            }
                    })
                    .count()
            })
            .sum()
    }

    /// Drops expired items; how many. The caller runs this from a timer.
    pub fn expire(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut m = s.write().unwrap_or_else(PoisonError::into_inner);
                self.sweep_shard(&mut m, now)
            })
            .sum()
    }

    fn sweep_shard(&self, m: &mut Map, now: u64) -> usize {
        let mut freed = 0;
        let mut n = 0;
        m.retain(|k, it| {
            let keep = it.live(now);
            if !keep {
                freed += k.len() + it.value.cost() + ITEM_OVERHEAD;
                n += 1;
            }
            keep
        });
        self.budget.give(freed);
        n
    }

    /// Number of stored items (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether no item is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the live items (`sht_print`, dumps); sorted by name.
    pub fn items(&self, now: u64) -> Vec<(String, HtValue)> {
        let mut v: Vec<_> = self
            .shards
            .iter()
            .flat_map(|s| {
                let m = s.read().unwrap_or_else(PoisonError::into_inner);
                m.iter()
                    .filter(|(_, it)| it.live(now))
                    .map(|(k, it)| (k.to_string(), it.value.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(spec: &str, budget: usize) -> Htable {
        Htable::new(
            HtableDef::parse(spec).unwrap(),
            HtBudget::new(budget),
            [1, 2, 3, 4],
        )
    }

    #[test]
    fn parse_definitions() {
        let d = HtableDef::parse("cred=>size=14;dbtable=htable;").unwrap();
        assert_eq!(d.name, "cred");
        assert_eq!(d.size, 14);
        assert_eq!(d.slots(), 16384);
        assert_eq!(d.dbtable.as_deref(), Some("htable"));
        assert!(d.updateexpire);
        let d = HtableDef::parse(
            "a=>size=4;autoexpire=7200;initval=1;dmqreplicate=1;updateexpire=0;dbmode=1",
        )
        .unwrap();
        assert_eq!((d.size, d.autoexpire, d.initval), (4, 7200, Some(1)));
        assert!(d.dmqreplicate && !d.updateexpire);
        assert_eq!(d.dbmode, 1);
        assert_eq!(HtableDef::parse("a=>size=1").unwrap().size, 3);
        assert_eq!(HtableDef::parse("a=>size=40").unwrap().size, 14);
        assert_eq!(HtableDef::parse("a=>").unwrap().size, 4);
        let d = HtableDef::parse("a=>cols='k,v1,v2';coldelim=|;colnull=-").unwrap();
        assert_eq!(d.cols, ["k", "v1", "v2"]);
        assert_eq!((d.coldelim, d.colnull.as_str()), ('|', "-"));
        for (bad, what) in [
            ("cred", "name=>"),
            ("=>size=4", "bad table name"),
            ("a b=>size=4", "bad table name"),
            ("a=>size=x", "size needs an integer"),
            ("a=>autoexpire=-1", "autoexpire needs"),
            ("a=>colour=red", "unknown attribute 'colour'"),
            ("a=>cols='k'", "cols needs"),
        ] {
            let e = HtableDef::parse(bad).unwrap_err();
            assert!(e.to_string().contains(what), "{bad}: {e}");
        }
    }

    #[test]
    fn set_get_remove() {
        let t = table("t=>size=4", 1 << 20);
        assert_eq!(t.get("k", 100), None);
        t.set("k", HtValue::Str("v".into()), 100).unwrap();
        t.set("n", HtValue::Int(5), 100).unwrap();
        assert_eq!(t.get("k", 100), Some(HtValue::Str("v".into())));
        assert_eq!(t.get_with("n", 100, |v| v.cloned()), Some(HtValue::Int(5)));
        assert_eq!(t.expires_in("k", 100), Some(0));
        assert_eq!(t.add("n", 2, 100), Ok(7));
        assert_eq!(t.add("m", -1, 100), Ok(-1));
        assert_eq!(t.add("k", 1, 100), Err(HtError::NotInt));
        assert!(t.remove("k", 100));
        assert!(!t.remove("k", 100));
        assert_eq!(t.len(), 2);
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.budget.used(), 0);
    }

    #[test]
    fn expiry_takes_now() {
        let t = table("t=>autoexpire=10", 1 << 20);
        t.set("k", HtValue::Int(1), 1000).unwrap();
        assert_eq!(t.expires_in("k", 1004), Some(6));
        assert!(t.get("k", 1009).is_some());
        assert!(t.get("k", 1010).is_none());
        assert_eq!(t.expires_in("k", 1010), None);
        // update restarts the expiry (updateexpire default)
        t.set("j", HtValue::Int(1), 1000).unwrap();
        t.set("j", HtValue::Int(2), 1005).unwrap();
        assert!(t.get("j", 1014).is_some());
        assert!(t.set_expires_in("j", 100, 1014));
        assert_eq!(t.expires_in("j", 1014), Some(100));
        assert!(t.set_expires_in("j", 0, 1014));
        assert!(t.get("j", 999_999).is_some());
        assert_eq!(t.expire(1010), 1);
        assert_eq!(t.len(), 1);

        let t = table("t=>autoexpire=10;updateexpire=0", 1 << 20);
        t.set("k", HtValue::Int(1), 1000).unwrap();
        t.set("k", HtValue::Int(2), 1005).unwrap();
        assert_eq!(t.get("k", 1009), Some(HtValue::Int(2)));
        assert!(t.get("k", 1010).is_none());
        // an expired item is replaced by a fresh one
        t.set("k", HtValue::Int(3), 1020).unwrap();
        assert_eq!(t.expires_in("k", 1020), Some(10));

        let t = table("t=>size=2", 1 << 20);
        t.set_with_expiry("k", HtValue::Int(1), 0, 50).unwrap();
        assert!(t.get("k", 49).is_some() && t.get("k", 50).is_none());
    }

    #[test]
    fn bounded_by_budget() {
        let budget = HtBudget::new(10 * (ITEM_OVERHEAD + 2));
        let a = Htable::new(
            HtableDef::parse("a=>size=2").unwrap(),
            budget.clone(),
            [0; 4],
        );
        let b = Htable::new(
            HtableDef::parse("b=>size=2;autoexpire=5").unwrap(),
            budget.clone(),
            [0; 4],
        );
        for i in 0..5 {
            a.set(&format!("k{i}"), HtValue::Int(i), 0).unwrap();
            b.set(&format!("k{i}"), HtValue::Int(i), 0).unwrap();
        }
        assert_eq!(
            a.set("k9", HtValue::Int(0), 0),
            Err(HtError::Full {
                limit: budget.limit()
            })
        );
        assert_eq!(a.full_count(), 1);
        // updating in place with a value of the same size still works
        a.set("k1", HtValue::Int(7), 0).unwrap();
        // growing a value over the budget does not
        assert!(a.set("k1", HtValue::Str("xxxxxxxx".into()), 0).is_err());
        assert_eq!(a.get("k1", 0), Some(HtValue::Int(7)));
        // once b's items expire, a write sweeps them... in its own shard; expire() frees all
        assert_eq!(b.expire(10), 5);
        a.set("k9", HtValue::Int(0), 10).unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(
            HtError::TooLong,
            a.set(&"x".repeat(MAX_KEY_LEN + 1), HtValue::Int(0), 0)
                .unwrap_err()
        );
    }

    #[test]
    fn matching() {
        let t = table("t=>size=3", 1 << 20);
        for (k, v) in [("alice", "a1"), ("alfred", "b2"), ("bob", "a3")] {
            t.set(k, HtValue::Str(v.into()), 0).unwrap();
        }
        t.set("n", HtValue::Int(3), 0).unwrap();
        let cn = |e: &str| t.count_matching(&HtMatch::parse_expr(e).unwrap(), false, 0);
        let cv = |e: &str| t.count_matching(&HtMatch::parse_expr(e).unwrap(), true, 0);
        assert_eq!(cn("~~^al"), 2);
        assert_eq!(cn("^AL"), 2);
        assert_eq!(cn("%~al"), 2);
        assert_eq!(cn("~%ob"), 1);
        assert_eq!(cn("==bob"), 1);
        assert_eq!(cn("**"), 4);
        assert_eq!(cv("~~^a"), 2);
        assert_eq!(cv("eq3"), 1);
        assert!(HtMatch::parse_expr("~~(").is_err());
        assert!(HtMatch::parse_op("xx", "y").is_none());
        let m = HtMatch::parse_op("sw", "al").unwrap().unwrap();
        assert_eq!(t.remove_matching(&m, false), 2);
        let m = HtMatch::parse_op("re", "^a").unwrap().unwrap();
        assert_eq!(t.remove_matching(&m, true), 1);
        let items = t.items(0);
        assert_eq!(items, vec![("n".to_string(), HtValue::Int(3))]);
    }

    #[test]
    fn shared_between_threads() {
        let t = Arc::new(table("t=>size=10", 1 << 24));
        let hs: Vec<_> = (0..4)
            .map(|w| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        t.set(&format!("{w}-{i}"), HtValue::Int(i), 0).unwrap();
                        let _ = t.add("shared", 1, 0);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(t.len(), 4001);
        assert_eq!(t.get("shared", 0), Some(HtValue::Int(4000)));
        assert_eq!(t.get("2-999", 0), Some(HtValue::Int(999)));
    }
}
