//! The command table and each command's handler, with Kamailio 5.6's names and result
//! shapes (checked against `kamcmd` and `jsonrpcs` on Kamailio 5.6.3).
//!
//! Differences from Kamailio, by design or not yet done:
//! - `core.psx`/`core.ps` list threads (Linux TIDs), not processes: the main thread, each
//!   worker and each control transport.
//! - `core.shmmem` reports the `-m` bound as `total` and, as `used`, the bytes the bounded
//!   shared tables (location bindings, htable items) are charged; per-worker tables
//!   (transactions, dialogs) are bounded separately and not included. `fragments` is 0.
//! - `core.uptime` prints times in UTC.
//! - `tm.stats`: `waiting` and `delayed_free` are 0 (no wait list), `freed` is
//!   `created - current`.
//! - `dlg.stats_active`: dialogs are not counted by state; `ongoing` is the confirmed dialogs
//!   not yet ended, `starting` the rest, `connecting`/`answering` 0.
//! - `ul.dump`: one domain, `location`; fields ferrosip does not keep are Kamailio's defaults
//!   (`State: CS_NEW`, `Flags: 0`, `Methods: -1`, ...). `Q` is in thousandths (-1: none).
//! - `cfg.*` is read-only (`cfg.list`, `cfg.get`, `cfg.help`).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ferrosip_state::htable::HtValue;

use super::stats::{dlg_ongoing, shm_used};
use super::{Command, Fig, Params, RpcEnv, RpcError, RpcResult, RpcValue};

/// Every command ferrosip answers.
pub(crate) const COMMANDS: &[Command] = &[
    cmd("system.listMethods", "core", "Lists all RPC methods supported by the server.", list_methods),
    cmd("system.methodHelp", "core", "Print the help string for given method.", method_help),
    cmd("core.version", "core", "Returns the version string of the server.", core_version),
    cmd("core.uptime", "core", "Returns uptime of SIP server.", core_uptime),
    cmd("core.info", "core", "Verbose info, including version number, compile flags, compiler,repository hash etc.", core_info),
    cmd("core.psx", "core", "Returns the description of running processes in extended format.", core_psx),
    cmd("core.ps", "core", "Returns the description of running processes.", core_ps),
    cmd("core.shmmem", "core", "Returns shared memory info. It has an optional parameter that specifies the measuring unit: b - bytes (default), k or kb, m or mb, g or gb.", core_shmmem),
    cmd("stats.get_statistics", "kex", "Print statistics: all, group: (e.g. core:) or names.", stats_get),
    cmd("stats.reset_statistics", "kex", "Reset statistics: all, group: or names.", stats_reset),
    cmd("stats.clear_statistics", "kex", "Print and reset statistics: all, group: or names.", stats_clear),
    cmd("tm.stats", "tm", "Print transaction statistics.", tm_stats),
    cmd("ul.dump", "usrloc", "Dump user location tables.", ul_dump),
    cmd("ul.lookup", "usrloc", "Lookup one AOR in the usrloc location table.", ul_lookup),
    cmd("htable.dump", "htable", "Dump the content of a hash table.", ht_dump),
    cmd("htable.get", "htable", "Get one key from a hash table.", ht_get),
    cmd("htable.listTables", "htable", "List all htables.", ht_list),
    cmd("dlg.stats_active", "dialog", "Get stats about active dialogs.", dlg_stats_active),
    cmd("cnt.get", "counters", "Get the value of a counter: group name.", cnt_get),
    cmd("cnt.reset", "counters", "Reset a counter: group name.", cnt_reset),
    cmd("cnt.list_groups", "counters", "List all the counter group names.", cnt_list_groups),
    cmd("cnt.list_names", "counters", "List the names of all the counters in a group.", cnt_list_names),
    cmd("cnt.grp_get_all", "counters", "Get the values of all the counters in a group.", cnt_grp_get_all),
    cmd("cnt.help", "counters", "Print the description of a counter: group name.", cnt_help),
    cmd("cfg.list", "cfg_rpc", "List the configuration variables.", cfg_list),
    cmd("cfg.get", "cfg_rpc", "Get the value of a configuration variable: group name.", cfg_get),
    cmd("cfg.help", "cfg_rpc", "Print the description of a configuration variable.", cfg_help),
];

const fn cmd(
    name: &'static str,
    module: &'static str,
    help: &'static str,
    run: fn(&RpcEnv, &Params<'_>) -> RpcResult,
) -> Command {
    Command {
        name,
        module,
        help,
        run,
    }
}

fn st(members: Vec<(&str, RpcValue)>) -> RpcValue {
    RpcValue::Struct(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn list_methods(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    Ok(RpcValue::Array(
        env.methods().into_iter().map(RpcValue::str).collect(),
    ))
}

fn method_help(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let name = p.str(0, "method name")?;
    env.command(&name)
        .map(|c| RpcValue::str(c.help))
        .ok_or_else(|| RpcError::new(500, "command not found"))
}

/// The version string (`core.version`).
fn version() -> String {
    format!(
        "ferrosip {} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

fn core_version(_: &RpcEnv, _: &Params<'_>) -> RpcResult {
    Ok(RpcValue::str(version()))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `ctime`-style text of a Unix time, in UTC: `Sun Nov 29 02:40:27 2026`.
pub(crate) fn ctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days to civil date (H. Hinnant's algorithm), for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1).clamp(0, 11) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

fn core_uptime(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    let now = SystemTime::now();
    let up = now.duration_since(env.started).map_or(0, |d| d.as_secs());
    Ok(st(vec![
        ("now", RpcValue::str(ctime(unix_secs(now)))),
        ("up_since", RpcValue::str(ctime(unix_secs(env.started)))),
        ("uptime", RpcValue::uint(up)),
    ]))
}

fn core_info(_: &RpcEnv, _: &Params<'_>) -> RpcResult {
    Ok(st(vec![
        (
            "version",
            RpcValue::str(format!("ferrosip {}", env!("CARGO_PKG_VERSION"))),
        ),
        ("id", RpcValue::str("unknown")),
        ("compiler", RpcValue::str("rustc")),
        ("compiled", RpcValue::str("")),
        (
            "flags",
            RpcValue::str("USE_TCP, THREAD_PER_CORE, BOUNDED_TABLES"),
        ),
    ]))
}

/// `(tid, description)` of every thread: main and control threads first, then workers.
fn threads(env: &RpcEnv) -> Vec<(u64, String)> {
    let procs = env
        .procs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut v: Vec<(u64, String)> = Vec::new();
    let mut rest = Vec::new();
    for p in procs {
        if v.is_empty() && p.desc.starts_with("main") {
            v.push((p.tid, p.desc));
        } else {
            rest.push((p.tid, p.desc));
        }
    }
    let socks: Vec<String> = env
        .sockets
        .iter()
        .map(|s| format!("{}:{}", s.proto, s.addr))
        .collect();
    for w in 0..env.board.workers() {
        v.push((
            env.board.tid(w),
            format!("worker child={w} socks={}", socks.join(",")),
        ));
    }
    v.extend(rest);
    v
}

fn core_psx(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    Ok(RpcValue::Array(
        threads(env)
            .into_iter()
            .enumerate()
            .map(|(i, (tid, desc))| {
                st(vec![
                    ("IDX", RpcValue::uint(i as u64)),
                    ("PID", RpcValue::uint(tid)),
                    ("DSC", RpcValue::Str(desc)),
                ])
            })
            .collect(),
    ))
}

fn core_ps(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    let mut v = Vec::new();
    for (tid, desc) in threads(env) {
        v.push(RpcValue::uint(tid));
        v.push(RpcValue::Str(desc));
    }
    Ok(RpcValue::Array(v))
}

fn core_shmmem(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let shift = match p
        .opt_str(0)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("b") => 0,
        Some("k" | "kb") => 10,
        Some("m" | "mb") => 20,
        Some("g" | "gb") => 30,
        Some(_) => return Err(RpcError::params("unit: b, k, m or g")),
    };
    let used = shm_used(env);
    let max = env
        .max_used
        .fetch_max(used, std::sync::atomic::Ordering::Relaxed)
        .max(used);
    let total = env.shm_bytes;
    Ok(st(vec![
        ("total", RpcValue::uint(total >> shift)),
        ("free", RpcValue::uint(total.saturating_sub(used) >> shift)),
        ("used", RpcValue::uint(used >> shift)),
        ("real_used", RpcValue::uint(used >> shift)),
        ("max_used", RpcValue::uint(max >> shift)),
        ("fragments", RpcValue::Int(0)),
    ]))
}

/// The statistics a `stats.*` parameter names: `all`, `group:`, `group:name` or `name`.
fn select(env: &RpcEnv, arg: &str) -> Vec<&'static super::stats::StatDef> {
    if arg == "all" {
        return env.stats().collect();
    }
    match arg.split_once(':') {
        Some((g, "")) => env.stats().filter(|s| s.group == g).collect(),
        Some((g, n)) => env.stat(Some(g), n).into_iter().collect(),
        None => env.stat(None, arg).into_iter().collect(),
    }
}

/// The script counters (`counters` module) a `stats.*` parameter names.
fn select_script<'e>(env: &'e RpcEnv, arg: &str) -> Vec<&'e crate::sip::ScriptCounter> {
    let all = script_counters(env);
    match (arg, arg.split_once(':')) {
        ("all", _) => all.collect(),
        (_, Some((g, ""))) => all.filter(|c| c.group == g).collect(),
        (_, Some((g, n))) => all.filter(|c| c.group == g && c.name == n).collect(),
        (n, None) => all.filter(|c| c.name == n).take(1).collect(),
    }
}

fn stats_get(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let args = p.strs();
    if args.is_empty() {
        return Err(RpcError::params("statistic name, group: or all"));
    }
    let mut out = Vec::new();
    for a in &args {
        for s in select(env, a) {
            out.push(RpcValue::Str(format!(
                "{}:{} = {}",
                s.group,
                s.name,
                env.stat_value(s)
            )));
        }
        for c in select_script(env, a) {
            out.push(RpcValue::Str(format!(
                "{}:{} = {}",
                c.group,
                c.name,
                c.get()
            )));
        }
    }
    Ok(RpcValue::Array(out))
}

fn stats_reset(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let args = p.strs();
    if args.is_empty() {
        return Err(RpcError::params("statistic name, group: or all"));
    }
    for a in &args {
        for s in select(env, a) {
            env.stat_reset(s);
        }
        for c in select_script(env, a) {
            c.reset();
        }
    }
    Ok(RpcValue::Nothing)
}

fn stats_clear(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let r = stats_get(env, p)?;
    stats_reset(env, p)?;
    Ok(r)
}

fn tm_stats(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    let b = &env.board;
    let current = b.sum(Fig::TmLive);
    let created = b.sum(Fig::TmServer).saturating_add(b.sum(Fig::TmClient));
    let local = b.sum(Fig::TmLocal);
    Ok(st(vec![
        ("current", RpcValue::uint(current)),
        ("waiting", RpcValue::Int(0)),
        ("total", RpcValue::uint(b.sum(Fig::TmServer))),
        ("total_local", RpcValue::Int(0)),
        ("rpl_received", RpcValue::uint(b.sum(Fig::TmMatched))),
        ("rpl_generated", RpcValue::uint(local)),
        (
            "rpl_sent",
            RpcValue::uint(local.saturating_add(b.sum(Fig::TmRelayed))),
        ),
        ("6xx", RpcValue::uint(b.sum(Fig::Tm6xx))),
        ("5xx", RpcValue::uint(b.sum(Fig::Tm5xx))),
        ("4xx", RpcValue::uint(b.sum(Fig::Tm4xx))),
        ("3xx", RpcValue::uint(b.sum(Fig::Tm3xx))),
        ("2xx", RpcValue::uint(b.sum(Fig::Tm2xx))),
        ("created", RpcValue::uint(created)),
        ("freed", RpcValue::uint(created.saturating_sub(current))),
        ("delayed_free", RpcValue::Int(0)),
    ]))
}

/// 32-bit FNV-1a of an AOR, for `HashID` (kept positive for 32-bit BINRPC integers).
fn aor_hash(aor: &str) -> i64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in aor.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    i64::from(h & 0x7fff_ffff)
}

fn not_set(v: Option<&String>) -> RpcValue {
    RpcValue::str(v.map_or("[not set]", String::as_str))
}

/// One binding as Kamailio's `Contact` struct.
fn contact(env: &RpcEnv, b: &ferrosip_state::Binding, now: Instant, now_unix: u64) -> RpcValue {
    let modified = now_unix.saturating_sub(now.saturating_duration_since(b.updated).as_secs());
    let socket = b.socket.and_then(|i| env.sockets.get(i)).map_or_else(
        || "[not set]".to_string(),
        |s| format!("{}:{}", s.proto, s.addr),
    );
    st(vec![
        ("Address", RpcValue::str(b.uri.clone())),
        ("Expires", RpcValue::uint(b.remaining(now))),
        ("Q", RpcValue::Int(b.q.map_or(-1, i64::from))),
        ("Call-ID", RpcValue::str(b.call_id.clone())),
        ("CSeq", RpcValue::Int(i64::from(b.cseq))),
        ("User-Agent", not_set(b.user_agent.as_ref())),
        ("Received", not_set(b.received.as_ref())),
        ("Path", not_set(b.path.as_ref())),
        ("State", RpcValue::str("CS_NEW")),
        ("Flags", RpcValue::Int(0)),
        ("CFlags", RpcValue::Int(0)),
        ("Socket", RpcValue::Str(socket)),
        ("Methods", RpcValue::Int(-1)),
        ("Instance", not_set(b.instance.as_ref())),
        ("Reg-Id", RpcValue::Int(b.reg_id.map_or(0, i64::from))),
        ("Server-Id", RpcValue::Int(0)),
        ("Tcpconn-Id", RpcValue::Int(-1)),
        ("Keepalive", RpcValue::Int(0)),
        ("Last-Keepalive", RpcValue::uint(modified)),
        ("KA-Roundtrip", RpcValue::Int(0)),
        ("Last-Modified", RpcValue::uint(modified)),
    ])
}

fn contacts(env: &RpcEnv, bindings: &[ferrosip_state::Binding]) -> RpcValue {
    let now = Instant::now();
    let now_unix = unix_secs(SystemTime::now());
    RpcValue::Array(
        bindings
            .iter()
            .map(|b| st(vec![("Contact", contact(env, b, now, now_unix))]))
            .collect(),
    )
}

/// The most AORs `ul.dump` lists (the reply is built in memory).
const UL_DUMP_MAX: usize = 100_000;

fn ul_dump(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let Some(reg) = env.process.registrar.as_ref() else {
        return Err(RpcError::new(500, "usrloc is not loaded"));
    };
    let brief = p.opt_str(0).as_deref() == Some("brief");
    let mut aors = Vec::new();
    reg.table.for_each_record(|aor, bindings| {
        if aors.len() >= UL_DUMP_MAX {
            return;
        }
        let mut info = vec![
            ("AoR", RpcValue::str(aor)),
            ("HashID", RpcValue::Int(aor_hash(aor))),
        ];
        if brief {
            let list = bindings
                .iter()
                .map(|b| {
                    st(vec![(
                        "Contact",
                        st(vec![
                            ("Address", RpcValue::str(b.uri.clone())),
                            ("Expires", RpcValue::uint(b.remaining(Instant::now()))),
                        ]),
                    )])
                })
                .collect();
            info.push(("Contacts", RpcValue::Array(list)));
        } else {
            info.push(("Contacts", contacts(env, bindings)));
        }
        aors.push(st(vec![("Info", st(info))]));
    });
    let records = aors.len();
    let domain = st(vec![
        ("Domain", RpcValue::str("location")),
        ("Size", RpcValue::uint(reg.table.slots() as u64)),
        ("AoRs", RpcValue::Array(aors)),
        (
            "Stats",
            st(vec![
                ("Records", RpcValue::uint(records as u64)),
                ("Max-Slots", RpcValue::Int(1)),
            ]),
        ),
    ]);
    Ok(st(vec![("Domains", st(vec![("Domain", domain)]))]))
}

fn ul_lookup(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let table = p.str(0, "table name")?;
    let aor = p.str(1, "AOR")?;
    let Some(reg) = env
        .process
        .registrar
        .as_ref()
        .filter(|_| table == "location")
    else {
        return Err(RpcError::new(500, "Table not found"));
    };
    let bare = aor
        .strip_prefix("sip:")
        .or_else(|| aor.strip_prefix("sips:"))
        .unwrap_or(&aor);
    let now = Instant::now();
    let mut found = None;
    for key in [bare, bare.split('@').next().unwrap_or(bare)] {
        let mut v = Vec::new();
        reg.table.for_each_record(|a, bs| {
            if a == key {
                v = bs
                    .iter()
                    .filter(|b| b.remaining(now) > 0)
                    .cloned()
                    .collect();
            }
        });
        if !v.is_empty() {
            found = Some((key, v));
            break;
        }
    }
    let Some((key, bindings)) = found else {
        return Err(RpcError::new(500, "AOR not found in location table"));
    };
    Ok(st(vec![
        ("AoR", RpcValue::str(key)),
        ("Contacts", contacts(env, &bindings)),
    ]))
}

fn ht_value(v: &HtValue) -> (RpcValue, &'static str) {
    match v {
        HtValue::Int(i) => (RpcValue::Int(*i), "int"),
        HtValue::Str(s) => (RpcValue::str(s.to_string()), "str"),
    }
}

/// The most items `htable.dump` lists.
const HT_DUMP_MAX: usize = 100_000;

fn ht_dump(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let name = p.str(0, "htable name")?;
    let Some(t) = env.process.htables.get(&name) else {
        return Err(RpcError::new(500, "No such htable"));
    };
    let now = super::super::sip::unix_now();
    let mut items = t.items(now);
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(RpcValue::Array(
        items
            .iter()
            .take(HT_DUMP_MAX)
            .enumerate()
            .map(|(i, (k, v))| {
                let (val, ty) = ht_value(v);
                st(vec![
                    ("entry", RpcValue::uint(i as u64)),
                    ("size", RpcValue::Int(1)),
                    (
                        "slot",
                        RpcValue::Array(vec![st(vec![
                            ("name", RpcValue::str(k.clone())),
                            ("value", val),
                            ("type", RpcValue::str(ty)),
                        ])]),
                    ),
                ])
            })
            .collect(),
    ))
}

fn ht_get(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let name = p.str(0, "htable name")?;
    let key = p.str(1, "key name")?;
    let Some(t) = env.process.htables.get(&name) else {
        return Err(RpcError::new(500, "No such htable"));
    };
    let Some(v) = t.get(&key, super::super::sip::unix_now()) else {
        return Err(RpcError::new(500, "Key name doesn't exist in htable."));
    };
    let (val, _) = ht_value(&v);
    Ok(st(vec![(
        "item",
        st(vec![("name", RpcValue::Str(key)), ("value", val)]),
    )]))
}

fn ht_list(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    Ok(RpcValue::Array(
        env.process
            .htables
            .defs()
            .map(|d| {
                st(vec![
                    ("name", RpcValue::str(d.name.clone())),
                    (
                        "dbtable",
                        RpcValue::str(d.dbtable.clone().unwrap_or_default()),
                    ),
                    ("dbmode", RpcValue::Int(i64::from(d.dbmode))),
                    ("expire", RpcValue::Int(i64::from(d.autoexpire))),
                    ("updateexpire", RpcValue::Int(i64::from(d.updateexpire))),
                    ("size", RpcValue::uint(d.slots() as u64)),
                    ("dmqreplicate", RpcValue::Int(i64::from(d.dmqreplicate))),
                ])
            })
            .collect(),
    ))
}

fn dlg_stats_active(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    let all = env.board.sum(Fig::DlgLive);
    let ongoing = dlg_ongoing(env);
    Ok(st(vec![
        ("starting", RpcValue::uint(all.saturating_sub(ongoing))),
        ("connecting", RpcValue::Int(0)),
        ("answering", RpcValue::Int(0)),
        ("ongoing", RpcValue::uint(ongoing)),
        ("all", RpcValue::uint(all)),
    ]))
}

/// A counter: one of the statistics, or a script counter (`counters` module).
enum Counter<'e> {
    Stat(&'static super::stats::StatDef),
    Script(&'e crate::sip::ScriptCounter),
}

impl Counter<'_> {
    fn name(&self) -> &str {
        match self {
            Self::Stat(s) => s.name,
            Self::Script(c) => &c.name,
        }
    }

    fn value(&self, env: &RpcEnv) -> RpcValue {
        match self {
            Self::Stat(s) => RpcValue::uint(env.stat_value(s)),
            Self::Script(c) => RpcValue::Int(c.get()),
        }
    }
}

/// The script counters (`counters` module) of this process.
fn script_counters(env: &RpcEnv) -> impl Iterator<Item = &crate::sip::ScriptCounter> {
    let on = env.has_module("counters");
    env.process.counters().iter().filter(move |_| on)
}

fn counter<'e>(env: &'e RpcEnv, p: &Params<'_>) -> Result<Counter<'e>, RpcError> {
    let group = p.str(0, "group")?;
    let name = p.str(1, "counter name")?;
    if let Some(s) = env.stat(Some(&group), &name) {
        return Ok(Counter::Stat(s));
    }
    script_counters(env)
        .find(|c| c.group == group && c.name == name)
        .map(Counter::Script)
        .ok_or_else(|| RpcError::new(400, "non-existent counter"))
}

fn cnt_get(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    Ok(counter(env, p)?.value(env))
}

fn cnt_reset(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    match counter(env, p)? {
        Counter::Stat(s) => env.stat_reset(s),
        Counter::Script(c) => c.reset(),
    }
    Ok(RpcValue::Nothing)
}

fn cnt_help(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    Ok(RpcValue::str(match counter(env, p)? {
        Counter::Stat(s) => s.help.to_string(),
        Counter::Script(c) => c.description.clone(),
    }))
}

fn cnt_list_groups(env: &RpcEnv, _: &Params<'_>) -> RpcResult {
    let mut g: Vec<String> = env.stat_groups().into_iter().map(str::to_string).collect();
    for c in script_counters(env) {
        if !g.contains(&c.group) {
            g.push(c.group.clone());
        }
    }
    g.sort_unstable();
    Ok(RpcValue::Array(g.into_iter().map(RpcValue::Str).collect()))
}

/// The counters of the group named by parameter 0, by name.
fn group_param<'e>(env: &'e RpcEnv, p: &Params<'_>) -> Result<Vec<Counter<'e>>, RpcError> {
    let group = p.str(0, "group")?;
    let mut v: Vec<Counter<'e>> = env
        .stats()
        .filter(|s| s.group == group)
        .map(Counter::Stat)
        .collect();
    v.extend(
        script_counters(env)
            .filter(|c| c.group == group)
            .map(Counter::Script),
    );
    if v.is_empty() {
        return Err(RpcError::new(400, "group not found"));
    }
    v.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(v)
}

fn cnt_list_names(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    Ok(RpcValue::Array(
        group_param(env, p)?
            .iter()
            .map(|c| RpcValue::str(c.name()))
            .collect(),
    ))
}

fn cnt_grp_get_all(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    Ok(RpcValue::Struct(
        group_param(env, p)?
            .iter()
            .map(|c| (c.name().to_string(), c.value(env)))
            .collect(),
    ))
}

/// The configuration variables `cfg.*` shows: (group, name, help).
const CFG_VARS: &[(&str, &str, &str)] = &[
    ("core", "debug", "debug level"),
    ("core", "log_facility", "syslog facility"),
    (
        "core",
        "max_while_loops",
        "maximum iterations of a while loop",
    ),
    ("core", "use_dst_blocklist", "use the destination blocklist"),
    (
        "core",
        "dst_blocklist_expire",
        "seconds a blocklisted destination stays",
    ),
    ("core", "dst_blocklist_mem", "blocklist memory bound in KiB"),
    ("core", "shm_mem_size", "shared memory bound in MiB (-m)"),
    ("core", "pkg_mem_size", "private memory bound in MiB (-M)"),
    ("core", "children", "workers"),
    (
        "tcp",
        "connection_lifetime",
        "idle TCP connection lifetime in s",
    ),
    ("tcp", "max_connections", "maximum TCP connections"),
    ("tcp", "tls_max_connections", "maximum TLS connections"),
    ("tcp", "connect_timeout", "TCP connect timeout in s"),
    ("tcp", "send_timeout", "TCP send timeout in s"),
    (
        "tcp",
        "conn_wq_max",
        "maximum bytes queued for write per connection",
    ),
    (
        "tcp",
        "wq_max",
        "maximum bytes queued for write allowed globally",
    ),
];

fn cfg_value(env: &RpcEnv, group: &str, name: &str) -> Option<RpcValue> {
    let c = &env.cfg.core;
    let i = |v: u32| Some(RpcValue::Int(i64::from(v)));
    match (group, name) {
        ("core", "debug") => Some(RpcValue::Int(i64::from(c.debug))),
        ("core", "log_facility") => Some(RpcValue::str(c.log_facility.clone())),
        ("core", "max_while_loops") => i(c.max_while_loops),
        ("core", "use_dst_blocklist") => i(u32::from(c.use_dst_blocklist)),
        ("core", "dst_blocklist_expire") => i(c.dst_blocklist_expire),
        ("core", "dst_blocklist_mem") => i(c.dst_blocklist_mem),
        ("core", "shm_mem_size") => i(c.shm_mem.unwrap_or(super::DEFAULT_SHM_MB)),
        ("core", "pkg_mem_size") => Some(RpcValue::uint(c.pkg_mem_bytes() / (1024 * 1024))),
        ("core", "children") => Some(RpcValue::uint(env.board.workers() as u64)),
        ("tcp", "connection_lifetime") => i(c.tcp_connection_lifetime),
        ("tcp", "max_connections") => i(c.tcp_max_connections),
        ("tcp", "tls_max_connections") => i(c.tls_max_connections),
        ("tcp", "connect_timeout") => i(c.tcp_connect_timeout),
        ("tcp", "send_timeout") => i(c.tcp_send_timeout),
        ("tcp", "conn_wq_max") => i(c.tcp_conn_wq_max),
        ("tcp", "wq_max") => i(c.tcp_wq_max),
        _ => None,
    }
}

fn cfg_list(_: &RpcEnv, _: &Params<'_>) -> RpcResult {
    Ok(RpcValue::Array(
        CFG_VARS
            .iter()
            .map(|(g, n, _)| RpcValue::Str(format!("{g}: {n}")))
            .collect(),
    ))
}

fn cfg_get(env: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let group = p.str(0, "group")?;
    let name = p.str(1, "variable name")?;
    cfg_value(env, &group, &name).ok_or_else(|| RpcError::new(400, "failed to get the variable"))
}

fn cfg_help(_: &RpcEnv, p: &Params<'_>) -> RpcResult {
    let group = p.str(0, "group")?;
    let name = p.str(1, "variable name")?;
    CFG_VARS
        .iter()
        .find(|(g, n, _)| *g == group && *n == name)
        .map(|(_, _, h)| RpcValue::str(*h))
        .ok_or_else(|| RpcError::new(400, "failed to get the variable"))
}
