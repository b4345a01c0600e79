//! The compiled script (IR) and its interpreter.
//!
//! Names are resolved at compile time: functions to [`Builtin`], pseudo-variables to [`Pv`] or
//! variable slots, routes to [`RouteId`], constant regexes compiled, constant arguments already
//! converted. Running a route walks the tree; constants are handed to the [`Host`] borrowed, so
//! a route made of constant-argument calls and constant assignments allocates nothing.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use regex::Regex;

use crate::names::{Builtin, Host, Keyword, Pv, Value};

/// Most arguments a built-in takes (checked at compile time).
pub(crate) const MAX_ARGS: usize = 4;

/// A route, resolved at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteId(pub(crate) u32);

/// The kind of a route block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// `request_route {}` (name `"0"`) and `route[NAME]`.
    Request,
    /// `reply_route {}` (also written `onreply_route {}` / `onreply_route[0]`), name `"0"`.
    Reply,
    /// `onreply_route[NAME]` (armed per transaction by tm).
    OnReply,
    /// `failure_route[NAME]`.
    Failure,
    /// `branch_route[NAME]`.
    Branch,
    /// `onsend_route {}`, name `"0"`.
    OnSend,
    /// `event_route[module:event]`.
    Event,
}

/// What running a route came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `drop` was executed.
    pub dropped: bool,
    /// `exit`, `drop` or `return 0` was executed, or a function or route returned 0.
    pub exited: bool,
    /// The route's return value: the `return` value, 0 after `exit`, 1 when it ran to its end.
    pub ret: i32,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// How a comparison compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpMode {
    /// Integers when both sides are integers (or one a numeric string), else strings.
    Generic,
    /// Case-insensitive strings (`method`, `proto`).
    NoCase,
    /// Address family (`INET`/`INET6`, 2/10, 4/6).
    Af,
    /// Always strings (`eq`, `ne`).
    Str,
    /// Always integers (`ieq`, `ine`).
    Int,
}

/// Arithmetic and bit operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitOr,
    BitAnd,
    BitXor,
    Shl,
    Shr,
}

/// An IP network literal (`10.0.0.0/8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Net {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let p = u32::from(self.prefix.min(32));
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = u32::from(self.prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A regex operand of `=~`.
#[derive(Clone, Debug)]
pub(crate) enum Re {
    Const(Box<Regex>),
    Dyn(Box<Expr>),
}

/// A piece of a dynamic string (`"$rm from $si"`).
#[derive(Clone, Debug)]
pub(crate) enum Seg {
    Lit(String),
    Val(Expr),
}

/// An expression.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Const(Value<'static>),
    /// An IP/network literal; as a value it is its text.
    Net(Net, String),
    Pv(Pv),
    Var(u32),
    Avp(u32),
    RetCode,
    Keyword(Keyword),
    Format(Box<[Seg]>),
    Call(Builtin, Box<[Self]>),
    Route(RouteId),
    Not(Box<Self>),
    Neg(Box<Self>),
    BitNot(Box<Self>),
    And(Box<[Self]>),
    Or(Box<[Self]>),
    /// `first op e op e ...` at one precedence level, evaluated left to right.
    Arith(Box<Self>, Box<[(ArithOp, Self)]>),
    Cmp(CmpOp, CmpMode, Box<Self>, Box<Self>),
    Match(bool, Box<Self>, Re),
    Myself(bool, Box<Self>),
    InNet(bool, Box<Self>, Net),
    Defined(Box<Self>),
    StrLen(Box<Self>),
    StrEmpty(Box<Self>),
    CastInt(Box<Self>),
    CastStr(Box<Self>),
    /// A pseudo-variable with a run-time key (`$sht(t=>$au)`): the key expression is
    /// evaluated to a string and handed to [`Host::pv_get_keyed`].
    KeyedPv(Pv, Box<Self>),
}

/// Something that can be assigned to.
#[derive(Clone, Debug)]
pub(crate) enum LVal {
    Pv(Pv),
    /// A pseudo-variable with a run-time key, written with [`Host::pv_set_keyed`].
    KeyedPv(Pv, Box<Expr>),
    Var(u32),
    Avp(u32),
}

/// `=`, `:=`, `+=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AssignOp {
    Set,
    SetOnly,
    Add,
}

/// A statement.
#[derive(Clone, Debug)]
pub(crate) enum Stmt {
    Eval(Expr),
    Assign(LVal, AssignOp, Expr),
    Block(Box<[Self]>),
    If(Expr, Box<[Self]>, Box<[Self]>),
    Switch {
        value: Expr,
        cases: Box<[(Value<'static>, usize)]>,
        default: Option<usize>,
        body: Box<[Self]>,
    },
    While(Expr, Box<[Self]>),
    Return(Option<Expr>),
    Exit,
    Drop,
    Break,
}

#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub(crate) kind: RouteKind,
    pub(crate) name: String,
    pub(crate) body: Box<[Stmt]>,
}

/// A compiled routing script. Cheap to run, never re-parsed; each worker keeps its own clone.
#[derive(Clone, Debug)]
pub struct Script {
    pub(crate) routes: Vec<Route>,
    pub(crate) var_names: Vec<String>,
    pub(crate) avp_names: Vec<String>,
    pub(crate) max_while_loops: u32,
    pub(crate) max_depth: u32,
}

impl Script {
    fn find(&self, kind: RouteKind, name: &str) -> Option<RouteId> {
        self.routes
            .iter()
            .position(|r| r.kind == kind && r.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(RouteId)
    }

    /// `request_route {}` (also `route {}` / `route[0]`).
    pub fn request_route(&self) -> Option<RouteId> {
        self.find(RouteKind::Request, "0")
    }

    /// `reply_route {}` (also `onreply_route {}`).
    pub fn reply_route(&self) -> Option<RouteId> {
        self.find(RouteKind::Reply, "0")
    }

    /// `onsend_route {}`.
    pub fn onsend_route(&self) -> Option<RouteId> {
        self.find(RouteKind::OnSend, "0")
    }

    /// A route by kind and name: `route(RouteKind::Request, "RELAY")`,
    /// `route(RouteKind::Event, "core:worker-one-init")`. Main routes are named `"0"`.
    pub fn route(&self, kind: RouteKind, name: &str) -> Option<RouteId> {
        self.find(kind, name)
    }

    /// Every defined route, in definition order (first reference order for routes used
    /// before their definition).
    pub fn routes(&self) -> impl Iterator<Item = (RouteId, RouteKind, &str)> + '_ {
        self.routes
            .iter()
            .enumerate()
            .map(|(i, r)| (RouteId(i as u32), r.kind, r.name.as_str()))
    }

    /// The kind and name of a route.
    pub fn route_info(&self, id: RouteId) -> Option<(RouteKind, &str)> {
        self.routes
            .get(id.0 as usize)
            .map(|r| (r.kind, r.name.as_str()))
    }

    /// Runs a route for one message.
    pub fn run(&self, route: RouteId, host: &mut dyn Host, vars: &mut ScriptVars) -> Outcome {
        vars.fit(self);
        let Some(r) = self.routes.get(route.0 as usize) else {
            tracing::error!("cfg: run of unknown route id {}", route.0);
            return Outcome {
                dropped: false,
                exited: false,
                ret: -1,
            };
        };
        let mut ex = Exec {
            s: self,
            host,
            vars,
            exit: false,
            dropped: false,
            depth: 0,
        };
        let flow = ex.block(&r.body);
        let ret = match flow {
            Flow::Return(n) => n,
            Flow::Exit(n) => n,
            Flow::Next | Flow::Break => 1,
        };
        Outcome {
            dropped: ex.dropped,
            exited: ex.exit,
            ret,
        }
    }
}

/// Script variables of one worker: `$var(x)` (kept between messages, like Kamailio's
/// per-process variables), `$avp(x)` (per message) and `$rc`.
#[derive(Clone, Debug, Default)]
pub struct ScriptVars {
    vars: Vec<Value<'static>>,
    avps: Vec<Vec<Value<'static>>>,
    rc: i32,
    /// Reused buffer for `== myself` operands.
    scratch: String,
    /// Reused buffers for dynamic-string arguments.
    pool: Vec<String>,
}

impl ScriptVars {
    /// Variables for `script`: every `$var` starts as integer 0, no `$avp` is set.
    pub fn new(script: &Script) -> Self {
        let mut v = Self::default();
        v.fit(script);
        v
    }

    /// A copy of every `$avp` (tm keeps them from the request for its failure route).
    pub fn avps_snapshot(&self) -> Vec<Vec<Value<'static>>> {
        self.avps.clone()
    }

    /// Puts back `$avp`s taken with [`ScriptVars::avps_snapshot`].
    pub fn restore_avps(&mut self, avps: &[Vec<Value<'static>>]) {
        for (slot, v) in self.avps.iter_mut().zip(avps) {
            slot.clone_from(v);
        }
    }

    /// Starts a new message: clears every `$avp` (keeping their storage).
    pub fn begin_message(&mut self) {
        for a in &mut self.avps {
            a.clear();
        }
    }

    fn fit(&mut self, s: &Script) {
        if self.vars.len() < s.var_names.len() {
            self.vars.resize(s.var_names.len(), Value::Int(0));
        }
        if self.avps.len() < s.avp_names.len() {
            self.avps.resize(s.avp_names.len(), Vec::new());
        }
    }

    /// The value of `$var(name)` (for tests and the control interface).
    pub fn var<'a>(&'a self, script: &Script, name: &str) -> Option<&'a Value<'static>> {
        let i = script.var_names.iter().position(|n| n == name)?;
        self.vars.get(i)
    }

    /// The value of `$avp(name)` (the latest one added).
    pub fn avp<'a>(&'a self, script: &Script, name: &str) -> Option<&'a Value<'static>> {
        let i = script.avp_names.iter().position(|n| n == name)?;
        self.avps.get(i)?.last()
    }

    /// `$rc`: the last return code.
    pub fn rc(&self) -> i32 {
        self.rc
    }
}

enum Flow {
    Next,
    Break,
    Return(i32),
    Exit(i32),
}

struct Exec<'a, 'h> {
    s: &'a Script,
    host: &'h mut dyn Host,
    vars: &'h mut ScriptVars,
    exit: bool,
    dropped: bool,
    depth: u32,
}

fn view<'a>(v: &'a Value<'_>) -> Value<'a> {
    match v {
        Value::Null => Value::Null,
        Value::Int(i) => Value::Int(*i),
        Value::Str(s) => Value::Str(Cow::Borrowed(s.as_ref())),
    }
}

fn owned(v: Value<'_>) -> Value<'static> {
    match v {
        Value::Null => Value::Null,
        Value::Int(i) => Value::Int(i),
        Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
    }
}

pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok();
    }
    t.parse::<i64>().ok()
}

/// Integer value (Kamailio: null is 0, a non-numeric string is 0).
pub(crate) fn to_int(v: &Value<'_>) -> i64 {
    match v {
        Value::Null => 0,
        Value::Int(i) => *i,
        Value::Str(s) => parse_int(s).unwrap_or(0),
    }
}

/// String form for comparisons and concatenation.
fn to_str<'a>(v: &'a Value<'_>) -> Cow<'a, str> {
    match v {
        Value::Null => Cow::Borrowed(""),
        Value::Int(i) => Cow::Owned(i.to_string()),
        Value::Str(s) => Cow::Borrowed(s.as_ref()),
    }
}

pub(crate) fn truthy(v: &Value<'_>) -> bool {
    match v {
        Value::Null => false,
        Value::Int(i) => *i != 0,
        Value::Str(s) => match parse_int(s) {
            Some(i) => i != 0,
            None => !s.is_empty(),
        },
    }
}

fn af_of(v: &Value<'_>) -> Option<u8> {
    match v {
        Value::Int(2 | 4) => Some(4),
        Value::Int(10 | 6) => Some(6),
        Value::Str(s) => match s.to_ascii_lowercase().as_str() {
            "inet" | "ipv4" | "4" | "2" => Some(4),
            "inet6" | "ipv6" | "6" | "10" => Some(6),
            _ => None,
        },
        _ => None,
    }
}

fn compare(op: CmpOp, mode: CmpMode, l: &Value<'_>, r: &Value<'_>) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match mode {
        CmpMode::Af => match (af_of(l), af_of(r)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        },
        CmpMode::NoCase => {
            let (a, b) = (to_str(l), to_str(r));
            let lower = |s: &str| {
                s.bytes()
                    .map(|c| c.to_ascii_lowercase())
                    .collect::<Vec<_>>()
            };
            if a.eq_ignore_ascii_case(&b) {
                Some(Ordering::Equal)
            } else if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                Some(Ordering::Less)
            } else {
                Some(lower(&a).cmp(&lower(&b)))
            }
        }
        CmpMode::Str => Some(to_str(l).cmp(&to_str(r))),
        CmpMode::Int => Some(to_int(l).cmp(&to_int(r))),
        CmpMode::Generic => match (l, r) {
            (Value::Null, Value::Null) => Some(Ordering::Equal),
            (Value::Null, _) | (_, Value::Null) => {
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    None
                } else {
                    Some(to_int(l).cmp(&to_int(r)))
                }
            }
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Int(a), Value::Str(s)) => match parse_int(s) {
                Some(b) => Some(a.cmp(&b)),
                None => Some(a.to_string().as_str().cmp(s.as_ref())),
            },
            (Value::Str(s), Value::Int(b)) => match parse_int(s) {
                Some(a) => Some(a.cmp(b)),
                None => Some(s.as_ref().cmp(b.to_string().as_str())),
            },
            (Value::Str(a), Value::Str(b)) => {
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    Some(a.cmp(b))
                } else {
                    match (parse_int(a), parse_int(b)) {
                        (Some(x), Some(y)) => Some(x.cmp(&y)),
                        _ => Some(a.cmp(b)),
                    }
                }
            }
        },
    };
    match (op, ord) {
        (CmpOp::Eq, o) => o == Some(Ordering::Equal),
        (CmpOp::Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
    }
}

pub(crate) fn arith<'a>(op: ArithOp, l: Value<'a>, r: Value<'a>) -> Value<'a> {
    if op == ArithOp::Add {
        match (&l, &r) {
            (Value::Int(a), Value::Int(b)) => return Value::Int(a.wrapping_add(*b)),
            (Value::Str(_), _) | (_, Value::Str(_)) => {
                let mut s = to_str(&l).into_owned();
                s.push_str(&to_str(&r));
                return Value::Str(Cow::Owned(s));
            }
            _ => return Value::Int(to_int(&l).wrapping_add(to_int(&r))),
        }
    }
    let (a, b) = (to_int(&l), to_int(&r));
    let v = match op {
        ArithOp::Add => a.wrapping_add(b),
        ArithOp::Sub => a.wrapping_sub(b),
        ArithOp::Mul => a.wrapping_mul(b),
        ArithOp::Div | ArithOp::Mod if b == 0 => {
            tracing::warn!("cfg: division by zero");
            0
        }
        ArithOp::Div => a.wrapping_div(b),
        ArithOp::Mod => a.wrapping_rem(b),
        ArithOp::BitOr => a | b,
        ArithOp::BitAnd => a & b,
        ArithOp::BitXor => a ^ b,
        ArithOp::Shl => a.wrapping_shl(u32::try_from(b.clamp(0, 63)).unwrap_or(0)),
        ArithOp::Shr => a.wrapping_shr(u32::try_from(b.clamp(0, 63)).unwrap_or(0)),
    };
    Value::Int(v)
}

fn ip_of(s: &str) -> Option<IpAddr> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    t.parse().ok()
}

impl<'a> Exec<'a, '_> {
    fn block(&mut self, stmts: &'a [Stmt]) -> Flow {
        for st in stmts {
            match self.stmt(st) {
                Flow::Next => {}
                f => return f,
            }
        }
        Flow::Next
    }

    fn check_exit(&self) -> Flow {
        if self.exit {
            Flow::Exit(0)
        } else {
            Flow::Next
        }
    }

    fn stmt(&mut self, st: &'a Stmt) -> Flow {
        match st {
            Stmt::Eval(e) => {
                self.eval_discard(e);
                self.check_exit()
            }
            Stmt::Assign(lv, op, e) => {
                self.assign(lv, *op, e);
                self.check_exit()
            }
            Stmt::Block(b) => self.block(b),
            Stmt::If(c, t, e) => {
                let b = self.cond(c);
                if self.exit {
                    return Flow::Exit(0);
                }
                self.block(if b { t } else { e })
            }
            Stmt::Switch {
                value,
                cases,
                default,
                body,
            } => {
                let start = self.with_val(value, |v| {
                    cases
                        .iter()
                        .find(|(c, _)| match (v, c) {
                            (Value::Int(a), Value::Int(b)) => a == b,
                            (a, b) => {
                                compare(CmpOp::Eq, CmpMode::Str, a, b) && !matches!(a, Value::Null)
                            }
                        })
                        .map(|(_, i)| *i)
                });
                if self.exit {
                    return Flow::Exit(0);
                }
                let Some(start) = start.or(*default) else {
                    return Flow::Next;
                };
                match self.block(body.get(start..).unwrap_or(&[])) {
                    Flow::Break => Flow::Next,
                    f => f,
                }
            }
            Stmt::While(c, body) => {
                let mut n = 0u32;
                loop {
                    let b = self.cond(c);
                    if self.exit {
                        return Flow::Exit(0);
                    }
                    if !b {
                        return Flow::Next;
                    }
                    n += 1;
                    if n > self.s.max_while_loops {
                        tracing::error!(
                            "cfg: while loop broken off after max_while_loops={}",
                            self.s.max_while_loops
                        );
                        return Flow::Next;
                    }
                    match self.block(body) {
                        Flow::Next => {}
                        Flow::Break => return Flow::Next,
                        f => return f,
                    }
                }
            }
            Stmt::Return(e) => {
                let n = match e {
                    Some(e) => {
                        let v = self.eval(e);
                        i32::try_from(to_int(&v)).unwrap_or(if to_int(&v) < 0 {
                            i32::MIN
                        } else {
                            i32::MAX
                        })
                    }
                    None => 1,
                };
                if self.exit || n == 0 {
                    // `return 0` stops the whole script, like `exit`
                    self.exit = true;
                    self.vars.rc = 0;
                    return Flow::Exit(0);
                }
                Flow::Return(n)
            }
            Stmt::Exit => {
                self.exit = true;
                Flow::Exit(0)
            }
            Stmt::Drop => {
                self.exit = true;
                self.dropped = true;
                Flow::Exit(0)
            }
            Stmt::Break => Flow::Break,
        }
    }

    fn set_rc(&mut self, rc: i32) {
        self.vars.rc = rc;
        if rc == 0 {
            self.exit = true;
        }
    }

    /// Calls a built-in. Constants are passed borrowed from the script, `$var`/`$avp` values
    /// borrowed from the variables, dynamic strings are built in pooled buffers: no allocation
    /// once the pool is warm.
    fn call(&mut self, f: Builtin, args: &'a [Expr]) -> i32 {
        let args = &args[..args.len().min(MAX_ARGS)];
        let mut bufs: [String; MAX_ARGS] = Default::default();
        let mut tmp: [Value<'a>; MAX_ARGS] = [const { Value::Null }; MAX_ARGS];
        for (i, a) in args.iter().enumerate() {
            match a {
                Expr::Format(segs) => {
                    let mut b = self.vars.pool.pop().unwrap_or_default();
                    b.clear();
                    self.format_into(segs, &mut b);
                    bufs[i] = b;
                }
                Expr::Var(_) | Expr::Avp(_) => {}
                _ => tmp[i] = self.eval(a),
            }
        }
        let rc = {
            let vars = &*self.vars;
            let mut vals: [Value<'_>; MAX_ARGS] = [const { Value::Null }; MAX_ARGS];
            for (i, a) in args.iter().enumerate() {
                vals[i] = match a {
                    Expr::Format(_) => Value::Str(Cow::Borrowed(bufs[i].as_str())),
                    Expr::Var(k) => vars.vars.get(*k as usize).map_or(Value::Null, view),
                    Expr::Avp(k) => vars
                        .avps
                        .get(*k as usize)
                        .and_then(|a| a.last())
                        .map_or(Value::Null, view),
                    _ => std::mem::replace(&mut tmp[i], Value::Null),
                };
            }
            self.host.call(f, &vals[..args.len()])
        };
        for b in bufs {
            if b.capacity() > 0 && self.vars.pool.len() < 4 * MAX_ARGS {
                self.vars.pool.push(b);
            }
        }
        self.set_rc(rc);
        rc
    }

    fn format_into(&mut self, segs: &'a [Seg], s: &mut String) {
        for seg in segs {
            match seg {
                Seg::Lit(l) => s.push_str(l),
                Seg::Val(e) => self.with_val(e, |v| match v {
                    Value::Null => s.push_str("<null>"),
                    Value::Int(i) => {
                        let _ = write!(s, "{i}");
                    }
                    Value::Str(x) => s.push_str(x),
                }),
            }
        }
    }

    fn call_route(&mut self, id: RouteId) -> i32 {
        let Some(r) = self.s.routes.get(id.0 as usize) else {
            return -1;
        };
        if self.depth >= self.s.max_depth {
            tracing::error!(
                "cfg: route({}) nested deeper than max_recursive_level",
                r.name
            );
            self.set_rc(-1);
            return -1;
        }
        self.depth += 1;
        let flow = self.block(&r.body);
        self.depth -= 1;
        let rc = match flow {
            Flow::Return(n) => n,
            Flow::Exit(_) => return 0,
            Flow::Next | Flow::Break => 1,
        };
        self.set_rc(rc);
        rc
    }

    /// Evaluates for side effects only (statement position).
    fn eval_discard(&mut self, e: &'a Expr) {
        match e {
            Expr::Call(f, args) => {
                self.call(*f, args);
            }
            Expr::Route(id) => {
                self.call_route(*id);
            }
            _ => {
                self.eval(e);
            }
        }
    }

    /// A condition: a function or route call is true when it returns > 0.
    fn cond(&mut self, e: &'a Expr) -> bool {
        match e {
            Expr::Call(f, args) => self.call(*f, args) > 0,
            Expr::Route(id) => self.call_route(*id) > 0,
            Expr::Not(x) => !self.cond(x),
            Expr::And(list) => {
                for x in list.iter() {
                    if !self.cond(x) || self.exit {
                        return false;
                    }
                }
                true
            }
            Expr::Or(list) => {
                for x in list.iter() {
                    let b = self.cond(x);
                    if self.exit {
                        return false;
                    }
                    if b {
                        return true;
                    }
                }
                false
            }
            _ => self.test(e).unwrap_or_else(|| {
                let v = self.eval(e);
                truthy(&v)
            }),
        }
    }

    /// Boolean-valued expressions; `None` for the others.
    fn test(&mut self, e: &'a Expr) -> Option<bool> {
        Some(match e {
            Expr::Cmp(op, mode, l, r) => {
                let rv = self.eval(r);
                self.with_val(l, |lv| compare(*op, *mode, lv, &rv))
            }
            Expr::Match(neg, l, re) => {
                let m = match re {
                    Re::Const(re) => self.with_val(l, |v| re.is_match(&to_str(v))),
                    Re::Dyn(p) => {
                        let pv = self.eval(p);
                        match regex::RegexBuilder::new(&to_str(&pv))
                            .case_insensitive(true)
                            .build()
                        {
                            Ok(re) => self.with_val(l, |v| re.is_match(&to_str(v))),
                            Err(err) => {
                                tracing::error!("cfg: bad regex '{}': {err}", to_str(&pv));
                                return Some(false);
                            }
                        }
                    }
                };
                m != *neg
            }
            Expr::Myself(neg, l) => {
                // copy the operand into a reused buffer: the host is borrowed again to answer
                let mut buf = std::mem::take(&mut self.vars.scratch);
                buf.clear();
                let present = self.with_val(l, |v| match v {
                    Value::Null => false,
                    Value::Int(i) => {
                        let _ = write!(buf, "{i}");
                        true
                    }
                    Value::Str(x) => {
                        buf.push_str(x);
                        true
                    }
                });
                let m = present && self.host.is_myself(&buf);
                self.vars.scratch = buf;
                m != *neg
            }
            Expr::InNet(neg, l, net) => {
                let m = self.with_val(l, |v| match v {
                    Value::Str(x) => ip_of(x).is_some_and(|ip| net.contains(ip)),
                    _ => false,
                });
                m != *neg
            }
            Expr::Defined(x) => self.with_val(x, |v| !matches!(v, Value::Null)),
            Expr::Not(x) => !self.cond(x),
            Expr::And(..) | Expr::Or(..) => self.cond(e),
            _ => return None,
        })
    }

    /// Runs `f` on the value of `e` without copying host values when avoidable.
    fn with_val<R>(&mut self, e: &'a Expr, f: impl FnOnce(&Value<'_>) -> R) -> R {
        match e {
            Expr::Pv(pv) => {
                let v = self.host.pv_get(pv);
                f(&v)
            }
            Expr::KeyedPv(pv, key) => {
                let k = self.eval(key);
                let v = self.host.pv_get_keyed(pv, &to_str(&k));
                f(&v)
            }
            Expr::Keyword(k) => {
                let v = self.host.keyword(*k);
                f(&v)
            }
            Expr::Var(i) => f(self.vars.vars.get(*i as usize).unwrap_or(&Value::Null)),
            Expr::Avp(i) => f(self
                .vars
                .avps
                .get(*i as usize)
                .and_then(|a| a.last())
                .unwrap_or(&Value::Null)),
            Expr::Const(c) => f(c),
            _ => {
                let v = self.eval(e);
                f(&v)
            }
        }
    }

    fn eval(&mut self, e: &'a Expr) -> Value<'a> {
        match e {
            Expr::Const(c) => view(c),
            Expr::Net(_, text) => Value::Str(Cow::Borrowed(text)),
            Expr::Pv(pv) => owned(self.host.pv_get(pv)),
            Expr::KeyedPv(pv, key) => {
                let k = self.eval(key);
                let v = self.host.pv_get_keyed(pv, &to_str(&k));
                owned(v)
            }
            Expr::Keyword(k) => owned(self.host.keyword(*k)),
            Expr::Var(i) => self
                .vars
                .vars
                .get(*i as usize)
                .cloned()
                .unwrap_or(Value::Null),
            Expr::Avp(i) => self
                .vars
                .avps
                .get(*i as usize)
                .and_then(|a| a.last())
                .cloned()
                .unwrap_or(Value::Null),
            Expr::RetCode => Value::Int(i64::from(self.vars.rc)),
            Expr::Format(segs) => {
                let mut s = String::new();
                self.format_into(segs, &mut s);
                Value::Str(Cow::Owned(s))
            }
            Expr::Call(f, args) => Value::Int(i64::from(self.call(*f, args))),
            Expr::Route(id) => Value::Int(i64::from(self.call_route(*id))),
            Expr::Neg(x) => {
                let v = self.eval(x);
                Value::Int(to_int(&v).wrapping_neg())
            }
            Expr::BitNot(x) => {
                let v = self.eval(x);
                Value::Int(!to_int(&v))
            }
            Expr::Arith(first, rest) => {
                let mut acc = self.eval(first);
                for (op, x) in rest.iter() {
                    let b = self.eval(x);
                    acc = arith(*op, acc, b);
                }
                acc
            }
            Expr::StrLen(x) => self.with_val(x, |v| {
                Value::Int(i64::try_from(to_str(v).len()).unwrap_or(i64::MAX))
            }),
            Expr::StrEmpty(x) => self.with_val(x, |v| Value::Int(i64::from(to_str(v).is_empty()))),
            Expr::CastInt(x) => {
                let v = self.eval(x);
                Value::Int(to_int(&v))
            }
            Expr::CastStr(x) => {
                let v = self.eval(x);
                match v {
                    Value::Str(s) => Value::Str(s),
                    other => Value::Str(Cow::Owned(to_str(&other).into_owned())),
                }
            }
            Expr::Not(_)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Cmp(..)
            | Expr::Match(..)
            | Expr::Myself(..)
            | Expr::InNet(..)
            | Expr::Defined(_) => Value::Int(i64::from(self.cond(e))),
        }
    }

    fn assign(&mut self, lv: &'a LVal, op: AssignOp, e: &'a Expr) {
        let mut v = self.eval(e);
        if op == AssignOp::Add {
            let cur = match lv {
                LVal::Pv(pv) => owned(self.host.pv_get(pv)),
                LVal::KeyedPv(pv, key) => {
                    let k = self.eval(key);
                    let v = self.host.pv_get_keyed(pv, &to_str(&k));
                    owned(v)
                }
                LVal::Var(i) => self
                    .vars
                    .vars
                    .get(*i as usize)
                    .cloned()
                    .unwrap_or(Value::Null),
                LVal::Avp(i) => self
                    .vars
                    .avps
                    .get(*i as usize)
                    .and_then(|a| a.last())
                    .cloned()
                    .unwrap_or(Value::Null),
            };
            v = arith(ArithOp::Add, cur, v);
        }
        match lv {
            LVal::Pv(pv) => {
                if let Err(err) = self.host.pv_set(pv, v) {
                    tracing::warn!("cfg: assignment to {pv:?} failed: {err}");
                }
            }
            LVal::KeyedPv(pv, key) => {
                let k = self.eval(key);
                if let Err(err) = self.host.pv_set_keyed(pv, &to_str(&k), v) {
                    tracing::warn!("cfg: assignment to {pv:?} failed: {err}");
                }
            }
            LVal::Var(i) => {
                if let Some(slot) = self.vars.vars.get_mut(*i as usize) {
                    *slot = match v {
                        Value::Null => Value::Int(0),
                        v => owned(v),
                    };
                }
            }
            LVal::Avp(i) => {
                if let Some(stack) = self.vars.avps.get_mut(*i as usize) {
                    match v {
                        Value::Null => stack.clear(),
                        v => {
                            if op == AssignOp::SetOnly {
                                stack.clear();
                            }
                            stack.push(owned(v));
                        }
                    }
                }
            }
        }
    }
}

/// Evaluates an expression with no message: pseudo-variables read as null, functions fail.
pub(crate) fn eval_const(e: &Expr) -> Value<'static> {
    struct NoMessage;
    impl Host for NoMessage {
        fn call(&mut self, _f: Builtin, _args: &[Value<'_>]) -> i32 {
            -1
        }
        fn keyword(&mut self, _k: Keyword) -> Value<'_> {
            Value::Null
        }
        fn is_myself(&mut self, _value: &str) -> bool {
            false
        }
        fn pv_get(&mut self, _pv: &Pv) -> Value<'_> {
            Value::Null
        }
        fn pv_set(&mut self, _pv: &Pv, _v: Value<'_>) -> Result<(), String> {
            Err("no message".into())
        }
    }
    let script = Script {
        routes: Vec::new(),
        var_names: Vec::new(),
        avp_names: Vec::new(),
        max_while_loops: 0,
        max_depth: 1,
    };
    let mut vars = ScriptVars::default();
    let mut host = NoMessage;
    let mut ex = Exec {
        s: &script,
        host: &mut host,
        vars: &mut vars,
        exit: false,
        dropped: false,
        depth: 0,
    };
    owned(ex.eval(e))
}
