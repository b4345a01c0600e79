//! The `htable` module (and the read side of `db_text` it loads from): process-wide hash
//! tables shared by every worker ([`ferrosip_state::htable`]), the `$sht*` pseudo-variables
//! and the `sht_*` functions.
//!
//! Configuration (Kamailio names):
//! - `modparam("htable", "htable", "name=>size=..;autoexpire=..;dbtable=..;initval=..;..")`,
//!   repeatable; a bad definition or a table defined twice is a `file:line:col` error, and so
//!   is a `$sht(name=>..)` (or a constant table argument of `sht_*`) naming an undefined table;
//! - `db_url`: `text:///abs/dir` or `text://rel/dir` (relative to the current directory:
//!   ferrosip has no compile-time `CFG_DIR`); the table `dbtable` is the file `<dir>/<dbtable>`
//!   in Kamailio's db_text format, read once at start ([`super::ProcessState`]); any other
//!   scheme, a missing `loadmodule "db_text.so"`, an unreadable file or a bad line stops the
//!   start with a message naming the file and `line:col`;
//! - `key_name_column`, `key_type_column`, `value_type_column`, `key_value_column`,
//!   `expires_column` (defaults `key_name`, `key_type`, `value_type`, `key_value`,
//!   `expires`), `array_size_suffix` (`::size`), `db_expires` (0), or the table's own `cols`;
//! - `modparam("db_text", "emptystring"|"db_delim", ..)` apply to the read.
//!
//! Loading follows Kamailio: key_type 1 builds arrays `key[0]`, `key[1]`... plus
//! `key::size`; value_type 1 stores integers; with `db_expires=1` and an `autoexpire` table
//! the `expires` column (Unix time, 0 never) is kept and rows already expired are skipped.
//! Rows are taken last to first, as Kamailio's db_text hands them over (so with duplicate
//! keys the first row in the file wins, and `key[0]` is the last row of that key).
//!
//! Bound: all tables share one byte budget, a quarter of `-m` (shared memory, default 64 MiB);
//! an item costs its key and value plus 64 bytes. A write that does not fit fails, is
//! counted ([`ferrosip_state::htable::Htable::full_count`]) and logged, and the script goes
//! on (`$sht(t=>k) = v` leaves the item as it was); a load that does not fit stops the start.
//!
//! `sht_lock`/`sht_unlock` are accepted and return 1 without locking: each `$sht` read or
//! write, `$shtinc`/`$shtdec` (atomic increment) and each `sht_*` function is atomic on its
//! own, but a read-modify-write like `$sht(t=>k) = $sht(t=>k) + 1` between them is not
//! atomic across workers (use `$shtinc`). A lock held across messages would stall a worker's
//! event loop, so ferrosip does not offer one.
//!
//! Not supported: `dbmode=1` (write back at shutdown; accepted, logged), DMQ replication,
//! iterators, `event_route[htable:expired:..]`, `$shtitkey`/`$shtitval`/`$shtrecord`, table
//! names with pseudo-variables in `$sht(..)`.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use ferrosip_state::dbtext::{DbTextOptions, DbValue, Table};
use ferrosip_state::htable::{HtBudget, HtMatch, HtValue, Htable, HtableDef};

use super::ctx::{val_int, val_str, MsgCtx};
use crate::cfg::{Config, ParamValue};
use crate::names::{Builtin, HtAttr, Pv, Value};

/// Unix seconds now (the module's expiry clock).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn param<'c>(cfg: &'c Config, module: &str, name: &str) -> Option<&'c ParamValue> {
    cfg.modparam(module, name)
}

fn param_str<'c>(cfg: &'c Config, module: &str, name: &str, default: &'c str) -> &'c str {
    match param(cfg, module, name) {
        Some(ParamValue::Str(s)) => s,
        _ => default,
    }
}

fn param_int(cfg: &Config, module: &str, name: &str) -> Option<i64> {
    match param(cfg, module, name)? {
        ParamValue::Int(i) => Some(*i),
        ParamValue::Str(s) => s.trim().parse().ok(),
    }
}

/// The process's hash tables.
#[derive(Debug)]
pub(crate) struct Htables {
    tables: Vec<Htable>,
    budget: Arc<HtBudget>,
}

impl Htables {
    /// The tables the configuration defines, empty, sized from `-m`. Definitions were
    /// checked when the configuration was compiled; one that fails here is skipped.
    pub(crate) fn new(cfg: &Config) -> Self {
        let shm = u64::from(cfg.core.shm_mem.unwrap_or(64)) * 1024 * 1024;
        let budget = HtBudget::new(usize::try_from(shm / 4).unwrap_or(usize::MAX));
        let seeds = {
            let p = u64::from(std::process::id());
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            [p ^ 0x510e_527f_ade6_82d1, t, t.rotate_left(17) ^ p, !t]
        };
        let tables = cfg
            .modparams
            .iter()
            .filter(|(m, n, _)| m == "htable" && n == "htable")
            .filter_map(|(_, _, v)| match v {
                ParamValue::Str(s) => HtableDef::parse(s).ok(),
                ParamValue::Int(_) => None,
            })
            .map(|d| Htable::new(d, budget.clone(), seeds))
            .collect();
        Self { tables, budget }
    }

    /// The table called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Htable> {
        self.tables.iter().find(|t| t.def().name == name)
    }

    /// Every table's definition, in configuration order (`htable.listTables`).
    pub(crate) fn defs(&self) -> impl Iterator<Item = &HtableDef> {
        self.tables.iter().map(Htable::def)
    }

    /// Bytes the items of every table use, and the budget (`-m` / 4).
    pub(crate) fn usage(&self) -> (usize, usize) {
        (self.budget.used(), self.budget.limit())
    }

    /// Loads every table with a `dbtable` from the `db_url` database (at start).
    pub(crate) fn load(&self, cfg: &Config) -> Result<(), String> {
        let now = unix_now();
        for t in &self.tables {
            let def = t.def();
            if def.dbmode != 0 {
                tracing::warn!(target: "ferrosip::htable", table = %def.name,
                    "dbmode=1: ferrosip does not write htables back to the database");
            }
            let Some(dbtable) = def.dbtable.as_deref() else {
                continue;
            };
            let Some(url) = param(cfg, "htable", "db_url").and_then(|v| match v {
                ParamValue::Str(s) => Some(s.as_str()),
                ParamValue::Int(_) => None,
            }) else {
                return Err(format!(
                    "htable '{}': dbtable={dbtable} needs modparam(\"htable\", \"db_url\", ..)",
                    def.name
                ));
            };
            let table =
                read_table(cfg, url, dbtable).map_err(|e| format!("htable '{}': {e}", def.name))?;
            let n = load_rows(cfg, t, &table, now)
                .map_err(|e| format!("htable '{}' from {url}/{dbtable}: {e}", def.name))?;
            let (used, limit) = self.usage();
            tracing::info!(target: "ferrosip::htable", table = %def.name, rows = n, used, limit,
                "htable loaded from db_text");
        }
        Ok(())
    }
}

/// The directory of a `text://` URL: `text:///abs` is absolute, `text://rel` relative.
pub(crate) fn dbtext_dir(url: &str) -> Result<PathBuf, String> {
    let Some(rest) = url.strip_prefix("text://") else {
        let scheme = url.split_once("://").map_or(url, |x| x.0);
        return Err(format!(
            "db_url '{url}': database '{scheme}' is not built into ferrosip (only text://, db_text)"
        ));
    };
    if rest.is_empty() {
        return Err(format!("db_url '{url}': no directory"));
    }
    Ok(PathBuf::from(rest))
}

/// Reads and parses table `table` of the db_text database at `url` (blocking: start only).
pub(crate) fn read_table(cfg: &Config, url: &str, table: &str) -> Result<Table, String> {
    let dir = dbtext_dir(url)?;
    if !cfg.modules.iter().any(|m| m == "db_text") {
        return Err(format!("db_url '{url}' needs loadmodule \"db_text.so\""));
    }
    if table.is_empty() || table.contains('/') || table == ".." {
        return Err(format!("bad db_text table name '{table}'"));
    }
    let path = dir.join(table);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read db_text table {}: {e}", path.display()))?;
    let delim = match param(cfg, "db_text", "db_delim") {
        Some(ParamValue::Str(s)) if s.len() == 1 => s.as_bytes()[0],
        Some(ParamValue::Str(s)) => {
            return Err(format!(
                "modparam(\"db_text\", \"db_delim\") must be one character, not \"{s}\""
            ))
        }
        _ => b':',
    };
    let opts = DbTextOptions {
        emptystring: param_int(cfg, "db_text", "emptystring").unwrap_or(0) != 0,
        delim,
    };
    Table::parse_with(&text, opts)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.col, e.msg))
}

fn field_text(v: &DbValue) -> Option<Cow<'_, str>> {
    match v {
        DbValue::Null => None,
        DbValue::Int(i) => Some(Cow::Owned(i.to_string())),
        DbValue::Double(d) => Some(Cow::Owned(d.to_string())),
        DbValue::Str(s) => Some(Cow::Borrowed(s)),
    }
}

/// Stores the rows of `table` in `t`; how many items were stored.
fn load_rows(cfg: &Config, t: &Htable, table: &Table, now: u64) -> Result<usize, String> {
    let def = t.def();
    let col = |name: &str| {
        table
            .column(name)
            .ok_or_else(|| format!("the table has no column '{name}'"))
    };
    let put = |key: &str, v: HtValue, expires: Option<u64>| {
        match expires {
            Some(e) => t.set_with_expiry(key, v, now, e),
            None => t.set(key, v, now),
        }
        .map_err(|e| format!("key '{key}': {e} (raise -m)"))
    };
    let mut n = 0;
    if !def.cols.is_empty() {
        let idx: Vec<usize> = def.cols.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
        for row in table.rows().collect::<Vec<_>>().into_iter().rev() {
            let Some(key) = row.at(idx[0]).and_then(field_text) else {
                continue;
            };
            let mut val = String::new();
            for (i, c) in idx[1..].iter().enumerate() {
                if i > 0 {
                    val.push(def.coldelim);
                }
                match row.at(*c).and_then(field_text) {
                    Some(s) => val.push_str(&s),
                    None => val.push_str(&def.colnull),
                }
            }
            put(&key, HtValue::Str(val.into()), None)?;
            n += 1;
        }
        return Ok(n);
    }
    let kn = col(param_str(cfg, "htable", "key_name_column", "key_name"))?;
    let kt = col(param_str(cfg, "htable", "key_type_column", "key_type"))?;
    let vt = col(param_str(cfg, "htable", "value_type_column", "value_type"))?;
    let kv = col(param_str(cfg, "htable", "key_value_column", "key_value"))?;
    let db_expires = param_int(cfg, "htable", "db_expires").unwrap_or(0) != 0 && def.autoexpire > 0;
    let ex = if db_expires {
        Some(col(param_str(cfg, "htable", "expires_column", "expires"))?)
    } else {
        None
    };
    let suffix = param_str(cfg, "htable", "array_size_suffix", "::size");
    // array keys: name -> next index
    let mut arrays: Vec<(String, i64)> = Vec::new();
    for row in table.rows().collect::<Vec<_>>().into_iter().rev() {
        let Some(name) = row.at(kn).and_then(field_text) else {
            tracing::warn!(target: "ferrosip::htable", table = %def.name, "row without a key name skipped");
            continue;
        };
        let expires = match ex.and_then(|i| row.at(i)).and_then(DbValue::as_int) {
            Some(e) if e > 0 && (e as u64) <= now => continue,
            Some(e) if e > 0 => Some(e as u64),
            _ if db_expires => Some(0),
            _ => None,
        };
        let raw = row.at(kv).and_then(field_text).unwrap_or(Cow::Borrowed(""));
        let value = if row.at(vt).and_then(DbValue::as_int) == Some(1) {
            match raw.trim().parse::<i64>() {
                Ok(i) => HtValue::Int(i),
                Err(_) => {
                    return Err(format!(
                        "key '{name}': value_type 1 but '{raw}' is not an integer"
                    ))
                }
            }
        } else {
            HtValue::Str(raw.as_ref().into())
        };
        if row.at(kt).and_then(DbValue::as_int) == Some(1) {
            let i = match arrays.iter_mut().find(|(k, _)| *k == *name) {
                Some((_, i)) => {
                    *i += 1;
                    *i
                }
                None => {
                    arrays.push((name.to_string(), 0));
                    0
                }
            };
            put(&format!("{name}[{i}]"), value, expires)?;
            put(&format!("{name}{suffix}"), HtValue::Int(i + 1), expires)?;
        } else {
            put(&name, value, expires)?;
        }
        n += 1;
    }
    Ok(n)
}

/// Splits `"table=>rest"` (the argument of `sht_lock`, `sht_rm_name_re`, ...).
fn split_arrow(s: &str) -> Option<(&str, &str)> {
    let (t, r) = s.split_once("=>")?;
    Some((t.trim(), r))
}

impl<'m> MsgCtx<'m, '_> {
    fn ht_table(&self, name: &str) -> Option<&Htable> {
        let t = self.sh.process.htables.get(name);
        if t.is_none() {
            tracing::error!(target: "ferrosip::htable", table = name, "no such htable");
        }
        t
    }

    /// Reads `$sht*(table=>key)`; the value is copied into the message arena.
    pub(crate) fn ht_get(&mut self, pv: &Pv, key: &str) -> Value<'m> {
        let Pv::Sht(attr, name) = pv else {
            return Value::Null;
        };
        let now = unix_now();
        let arena = self.arena;
        let Some(t) = self.ht_table(name) else {
            return Value::Null;
        };
        match attr {
            HtAttr::Value => t.get_with(key, now, |v| match v {
                Some(HtValue::Int(i)) => Value::Int(*i),
                Some(HtValue::Str(s)) => Value::Str(Cow::Borrowed(arena.alloc_str(s))),
                None => t.def().initval.map_or(Value::Null, Value::Int),
            }),
            HtAttr::Expires => Value::Int(
                t.expires_in(key, now)
                    .map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX)),
            ),
            HtAttr::CountNames | HtAttr::CountValues => match HtMatch::parse_expr(key) {
                Ok(m) => Value::Int(t.count_matching(&m, *attr == HtAttr::CountValues, now) as i64),
                Err(e) => {
                    tracing::error!(target: "ferrosip::htable", "bad expression '{key}': {e}");
                    Value::Null
                }
            },
            HtAttr::Inc | HtAttr::Dec => {
                let d = if *attr == HtAttr::Inc { 1 } else { -1 };
                match t.add(key, d, now) {
                    Ok(v) => Value::Int(v),
                    Err(e) => {
                        tracing::warn!(target: "ferrosip::htable", table = %name, key, "{e}");
                        Value::Null
                    }
                }
            }
            #[allow(unreachable_patterns)]
            _ => Value::Null,
        }
    }

    /// Writes `$sht(table=>key)` (`$null` deletes) or `$shtex(table=>key)`.
    pub(crate) fn ht_set(&mut self, pv: &Pv, key: &str, v: Value<'_>) -> Result<(), String> {
        let Pv::Sht(attr, name) = pv else {
            return Err(format!("{pv:?} is not an htable variable"));
        };
        let now = unix_now();
        let t = self
            .ht_table(name)
            .ok_or_else(|| format!("no htable '{name}'"))?;
        match attr {
            HtAttr::Value => {
                let value = match v {
                    Value::Null => {
                        t.remove(key, now);
                        return Ok(());
                    }
                    Value::Int(i) => HtValue::Int(i),
                    Value::Str(s) => HtValue::Str(s.as_ref().into()),
                };
                // a refused write is counted by the table (full_count) and logged by the caller
                t.set(key, value, now)
                    .map_err(|e| format!("$sht({name}=>{key}): {e}"))
            }
            HtAttr::Expires => {
                let secs = val_int(&v).unwrap_or(0).max(0) as u64;
                t.set_expires_in(key, secs, now);
                Ok(())
            }
            _ => Err(format!("{pv:?} is read-only")),
        }
    }

    /// The `sht_*` functions.
    pub(crate) fn ht_call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        let arg = |i: usize| args.get(i).and_then(val_str);
        let now = unix_now();
        match f {
            Builtin::ShtLock | Builtin::ShtUnlock => 1,
            Builtin::ShtPrint => {
                for t in &self.sh.process.htables.tables {
                    for (k, v) in t.items(now) {
                        tracing::error!(target: "ferrosip::htable", table = %t.def().name, "{k} => {v:?}");
                    }
                }
                1
            }
            Builtin::ShtRm => {
                let (Some(tn), Some(k)) = (arg(0), arg(1)) else {
                    return -1;
                };
                let Some(t) = self.ht_table(&tn) else {
                    return -1;
                };
                t.remove(&k, now);
                1
            }
            Builtin::ShtReset => {
                let Some(tn) = arg(0) else { return -1 };
                let Some(t) = self.ht_table(&tn) else {
                    return -1;
                };
                t.clear();
                1
            }
            Builtin::ShtRmNameRe | Builtin::ShtRmValueRe => {
                let Some(a) = arg(0) else { return -1 };
                let Some((tn, re)) = split_arrow(&a) else {
                    tracing::error!(target: "ferrosip::htable", "{f:?}: expected \"table=>regexp\", not \"{a}\"");
                    return -1;
                };
                let Some(t) = self.ht_table(tn) else {
                    return -1;
                };
                match HtMatch::parse_op("re", re) {
                    Some(Ok(m)) => {
                        t.remove_matching(&m, f == Builtin::ShtRmValueRe);
                        1
                    }
                    Some(Err(e)) => {
                        tracing::error!(target: "ferrosip::htable", "bad regexp '{re}': {e}");
                        -1
                    }
                    None => -1,
                }
            }
            Builtin::ShtRmName
            | Builtin::ShtRmValue
            | Builtin::ShtHasName
            | Builtin::ShtHasStrValue => {
                let (Some(tn), Some(op), Some(val)) = (arg(0), arg(1), arg(2)) else {
                    return -1;
                };
                let Some(t) = self.ht_table(&tn) else {
                    return -1;
                };
                let rm = matches!(f, Builtin::ShtRmName | Builtin::ShtRmValue);
                if rm && !matches!(op.as_ref(), "re" | "sw") {
                    tracing::error!(target: "ferrosip::htable", "{f:?}: unknown op '{op}' (re, sw)");
                    return -1;
                }
                let m = match HtMatch::parse_op(&op, &val) {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        tracing::error!(target: "ferrosip::htable", "bad regexp '{val}': {e}");
                        return -1;
                    }
                    None => {
                        tracing::error!(target: "ferrosip::htable", "{f:?}: unknown op '{op}' (eq, ne, re, sw)");
                        return -1;
                    }
                };
                let by_value = matches!(f, Builtin::ShtRmValue | Builtin::ShtHasStrValue);
                if rm {
                    t.remove_matching(&m, by_value);
                    1
                } else if t.count_matching(&m, by_value, now) > 0 {
                    1
                } else {
                    -1
                }
            }
            _ => -1,
        }
    }
}
