//! The script side of Kamailio's `counters` module: counters declared with
//! `modparam("counters", "script_counter", "name description")` (group `script`, or the one
//! set with `script_cnt_grp_name`), changed by `cnt_inc(name)`, `cnt_add(name, n)` and
//! `cnt_reset(name)`. A name may be written `group.name`.
//!
//! The counters are process-wide atomics in [`super::ProcessState`], so every worker adds
//! to the same value and the RPC commands (`cnt.get`, `cnt.reset`, ...) read them through
//! [`ScriptCounters`]. At most [`MAX_COUNTERS`] are declared. A function naming a counter
//! that was not declared returns -1 (Kamailio refuses such a script at start; here the
//! name may be computed at run time).

use std::sync::atomic::{AtomicI64, Ordering};

use super::ctx::{val_int, val_str, MsgCtx};
use crate::cfg::{Config, ParamValue};
use crate::names::{Builtin, Value};

/// Most script counters one configuration may declare.
pub const MAX_COUNTERS: usize = 1024;

/// One declared counter.
#[derive(Debug)]
pub struct ScriptCounter {
    /// Its group (`script` unless `script_cnt_grp_name` says otherwise).
    pub group: String,
    /// Its name.
    pub name: String,
    /// The description given with it (may be empty).
    pub description: String,
    value: AtomicI64,
}

impl ScriptCounter {
    /// The current value.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Sets the value to 0.
    pub fn reset(&self) {
        self.value.store(0, Ordering::Relaxed);
    }

    /// Adds `n` (wrapping).
    pub fn add(&self, n: i64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }
}

/// The script counters of a process, in declaration order.
#[derive(Debug, Default)]
pub struct ScriptCounters {
    list: Vec<ScriptCounter>,
}

impl ScriptCounters {
    /// The counters declared by `modparam("counters", "script_counter", ..)`. `Err` for a
    /// declaration without a name, a duplicate, or more than [`MAX_COUNTERS`].
    pub fn from_config(cfg: &Config) -> Result<Self, String> {
        let group = cfg
            .modparams
            .iter()
            .rev()
            .find(|(m, p, _)| m == "counters" && p == "script_cnt_grp_name")
            .and_then(|(_, _, v)| match v {
                ParamValue::Str(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "script".to_string());
        let mut list: Vec<ScriptCounter> = Vec::new();
        for (m, p, v) in &cfg.modparams {
            if m != "counters" || p != "script_counter" {
                continue;
            }
            let text = match v {
                ParamValue::Str(s) => s.clone(),
                ParamValue::Int(i) => i.to_string(),
            };
            let text = text.trim();
            let (name, desc) = match text.split_once(char::is_whitespace) {
                Some((n, d)) => (n, d.trim()),
                None => (text, ""),
            };
            if name.is_empty() {
                return Err("counters: script_counter without a name".into());
            }
            if list.iter().any(|c| c.name == name) {
                return Err(format!("counters: script_counter {name:?} declared twice"));
            }
            if list.len() >= MAX_COUNTERS {
                return Err(format!(
                    "counters: more than {MAX_COUNTERS} script counters"
                ));
            }
            list.push(ScriptCounter {
                group: group.clone(),
                name: name.to_string(),
                description: desc.to_string(),
                value: AtomicI64::new(0),
            });
        }
        Ok(Self { list })
    }

    /// Every counter, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &ScriptCounter> {
        self.list.iter()
    }

    /// The counter named `name` or `group.name`.
    pub fn get(&self, name: &str) -> Option<&ScriptCounter> {
        let name = name.trim();
        self.list.iter().find(|c| {
            c.name == name
                || name
                    .split_once('.')
                    .is_some_and(|(g, n)| g == c.group && n == c.name)
        })
    }

    /// Sets every counter to 0.
    pub fn reset_all(&self) {
        for c in &self.list {
            c.reset();
        }
    }

    /// How many counters are declared.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is declared.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl MsgCtx<'_, '_> {
    /// `cnt_inc(name)`, `cnt_add(name, n)`, `cnt_reset(name)`.
    pub(crate) fn counters_call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        let Some(name) = args.first().and_then(val_str) else {
            return -1;
        };
        let Some(c) = self.sh.process.counters.get(&name) else {
            tracing::warn!(target: "ferrosip::counters", "no script counter {name:?}");
            return -1;
        };
        match f {
            Builtin::CntInc => c.add(1),
            Builtin::CntAdd => match args.get(1).and_then(val_int) {
                Some(n) => c.add(n),
                None => return -1,
            },
            Builtin::CntReset => c.reset(),
            _ => return -1,
        }
        1
    }
}
