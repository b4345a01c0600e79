//! Parser and compiler: tokens to [`Script`] IR plus core/module parameters, with every name
//! checked (functions, modules, pseudo-variables, routes) and reported at its `file:line:col`.

use std::borrow::Cow;
use std::net::IpAddr;

use super::lex::{Span, Tok, Token};
use super::modules::{self, PType};
use super::params::CoreParams;
use super::script::{
    ArithOp, AssignOp, CmpMode, CmpOp, Expr, LVal, Net, Re, Route, RouteId, RouteKind, Script, Seg,
    Stmt, MAX_ARGS,
};
use super::{CfgError, ParamValue};
use crate::names::{Builtin, DlgAttr, HtAttr, Keyword, Pv, Value};

/// Everything the top level of a file defines.
pub(crate) struct Parsed {
    pub(crate) core: CoreParams,
    pub(crate) notices: Vec<String>,
    pub(crate) modules: Vec<String>,
    pub(crate) modparams: Vec<(String, String, ParamValue)>,
    pub(crate) script: Script,
}

struct RouteSlot {
    kind: RouteKind,
    name: String,
    body: Option<Box<[Stmt]>>,
    first_ref: Option<Span>,
}

/// A pseudo-variable reference, resolved.
enum PvRef {
    Host(Pv),
    Var(u32),
    Avp(u32),
    RetCode,
    Null,
    /// A pseudo-variable with a run-time key (`$sht(t=>$au)`).
    Keyed(Pv, Expr),
}

pub(crate) struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    files: &'t [String],
    core: CoreParams,
    notices: Vec<String>,
    modules: Vec<String>,
    modparams: Vec<(String, String, ParamValue)>,
    routes: Vec<RouteSlot>,
    vars: Vec<String>,
    avps: Vec<String>,
    /// Nesting depth of blocks/expressions, bounded so hostile input cannot overflow the stack.
    nest: u32,
    /// Dialog profile names used by `set_dlg_profile` & co., checked against the declared
    /// profiles once the whole file is read.
    profile_refs: Vec<(String, Span)>,
    /// Where the last `profiles_with_value` / `profiles_no_value` modparam was.
    profiles_span: Option<Span>,
    /// The variable a just-compiled `get_profile_size(.., $var(x))` writes: the enclosing
    /// statement turns into "call; $var(x) = size" ([`Parser::stmt`]).
    pending_out: Option<(LVal, Span)>,
    /// htable tables declared so far (`modparam("htable", "htable", "name=>...")`).
    ht_names: Vec<String>,
    /// Tables named by `$sht(name=>..)` & co., checked once the whole file is read.
    ht_refs: Vec<(String, Span)>,
    /// Test aid: accept unknown modules, functions and pseudo-variables (as no-ops), so that
    /// the grammar can be exercised on real-world configs that use modules we lack.
    pub(crate) permissive: bool,
}

const MAX_NEST: u32 = 64;

type R<T> = Result<T, CfgError>;

fn is_punct(t: Option<&Token>, p: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Punct(q), .. }) if *q == p)
}

fn is_ident(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Ident(q), .. }) if q == w)
}

fn arith_op(op: &str) -> ArithOp {
    match op {
        "|" => ArithOp::BitOr,
        "&" => ArithOp::BitAnd,
        "^" => ArithOp::BitXor,
        "<<" => ArithOp::Shl,
        ">>" => ArithOp::Shr,
        "+" => ArithOp::Add,
        "-" => ArithOp::Sub,
        "*" => ArithOp::Mul,
        "/" => ArithOp::Div,
        _ => ArithOp::Mod,
    }
}

/// Parses and evaluates a preprocessor expression (`#!ifexp`, `#!defexp`).
pub(crate) fn eval_const_expr(
    toks: &[Token],
    files: &[String],
    span: Span,
) -> Result<Value<'static>, CfgError> {
    let mut p = Parser::new(toks, files);
    if toks.is_empty() {
        return Err(p.err(span, "missing expression"));
    }
    let (e, _) = p.expr()?;
    if let Some(t) = p.peek() {
        return Err(p.err(
            t.span,
            format!(
                "unexpected {} after the expression",
                Parser::describe(Some(t))
            ),
        ));
    }
    Ok(super::script::eval_const(&e))
}

impl<'t> Parser<'t> {
    pub(crate) fn new(toks: &'t [Token], files: &'t [String]) -> Self {
        Self {
            toks,
            pos: 0,
            files,
            core: CoreParams::default(),
            notices: Vec::new(),
            modules: Vec::new(),
            modparams: Vec::new(),
            routes: Vec::new(),
            vars: Vec::new(),
            avps: Vec::new(),
            nest: 0,
            profile_refs: Vec::new(),
            profiles_span: None,
            ht_names: Vec::new(),
            ht_refs: Vec::new(),
            pending_out: None,
            permissive: false,
        }
    }

    fn err(&self, span: Span, msg: impl Into<String>) -> CfgError {
        CfgError {
            file: self
                .files
                .get(span.file as usize)
                .cloned()
                .unwrap_or_default(),
            line: span.line,
            col: span.col,
            msg: msg.into(),
        }
    }

    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&'t Token> {
        self.toks.get(self.pos + n)
    }

    fn next(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// Span of the next token, or of the end of input.
    fn here(&self) -> Span {
        match self.peek() {
            Some(t) => t.span,
            None => self.toks.last().map(|t| t.span).unwrap_or_default(),
        }
    }

    fn describe(t: Option<&Token>) -> String {
        match t {
            None => "end of file".into(),
            Some(t) => match &t.tok {
                Tok::Str(_) => "a string".into(),
                Tok::Int(_) => format!("number {}", t.text),
                _ => format!("'{}'", t.text),
            },
        }
    }

    fn expect(&mut self, p: &str) -> R<Span> {
        let t = self.peek();
        if is_punct(t, p) {
            self.pos += 1;
            return Ok(t.map(|t| t.span).unwrap_or_default());
        }
        Err(self.err(
            self.here(),
            format!("expected '{p}', found {}", Self::describe(t)),
        ))
    }

    fn eat(&mut self, p: &str) -> bool {
        if is_punct(self.peek(), p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> R<()> {
        self.nest += 1;
        if self.nest > MAX_NEST {
            return Err(self.err(self.here(), "nested too deeply"));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- top level

    pub(crate) fn parse(mut self) -> R<Parsed> {
        while let Some(t) = self.peek() {
            match &t.tok {
                Tok::Punct(";") => {
                    self.pos += 1;
                }
                Tok::Ident(w) => self.top_ident(w, t.span)?,
                _ => {
                    return Err(self.err(t.span, format!("unexpected {}", Self::describe(Some(t)))))
                }
            }
        }
        for r in &self.routes {
            if r.body.is_none() {
                let span = r.first_ref.unwrap_or_default();
                return Err(self.err(span, format!("route '{}' is not defined", r.name)));
            }
        }
        self.check_profiles()?;
        for (name, span) in &self.ht_refs {
            if !self.ht_names.contains(name) {
                return Err(self.err(
                    *span,
                    format!("htable '{name}' is not defined (modparam(\"htable\", \"htable\", \"{name}=>...\"))"),
                ));
            }
        }
        let routes = self
            .routes
            .into_iter()
            .map(|r| Route {
                kind: r.kind,
                name: r.name,
                body: r.body.unwrap_or_default(),
            })
            .collect();
        let script = Script {
            routes,
            var_names: self.vars,
            avp_names: self.avps,
            max_while_loops: self.core.max_while_loops,
            max_depth: self.core.max_recursive_level.max(1),
        };
        Ok(Parsed {
            core: self.core,
            notices: self.notices,
            modules: self.modules,
            modparams: self.modparams,
            script,
        })
    }

    /// Kamailio fails at start-up when a dialog function names an undeclared profile; so do
    /// we, at the use.
    fn check_profiles(&self) -> R<()> {
        let text = |name: &str| match self
            .modparams
            .iter()
            .rev()
            .find(|(m, n, _)| m == "dialog" && n == name)
        {
            Some((_, _, ParamValue::Str(v))) => v.as_str(),
            _ => "",
        };
        let defs =
            ferrosip_state::parse_profiles(text("profiles_with_value"), text("profiles_no_value"))
                .map_err(|e| {
                    self.err(
                        self.profiles_span.unwrap_or_default(),
                        format!("dialog: {e}"),
                    )
                })?;
        for (name, span) in &self.profile_refs {
            if !defs.iter().any(|d| &*d.name == name.as_str()) {
                return Err(self.err(
                    *span,
                    format!("dialog profile '{name}' is not declared (modparam(\"dialog\", \"profiles_with_value\"|\"profiles_no_value\", ...))"),
                ));
            }
        }
        Ok(())
    }

    fn top_ident(&mut self, w: &str, span: Span) -> R<()> {
        match w {
            "loadmodule" | "loadmodulex" => {
                self.pos += 1;
                self.eat("=");
                let (arg, aspan) = self.string_arg("loadmodule")?;
                let name = modules::module_name(&arg);
                if (modules::module(name).is_none() || name == "core") && !self.permissive {
                    return Err(
                        self.err(aspan, format!("module {name} is not built into ferrosip"))
                    );
                }
                if !self.modules.iter().any(|m| m == name) {
                    self.modules.push(name.to_string());
                }
                Ok(())
            }
            "loadpath" | "mpath" => {
                self.pos += 1;
                self.eat("=");
                self.string_arg(w)?;
                Ok(())
            }
            "cfgengine" => {
                self.pos += 1;
                self.eat("=");
                let (e, espan) = self.string_arg(w)?;
                if e != "native" && e != "kamailio" {
                    return Err(self.err(
                        espan,
                        format!("cfgengine \"{e}\" is not supported (only native)"),
                    ));
                }
                Ok(())
            }
            "modparam" | "modparamx" => {
                self.pos += 1;
                self.modparam()
            }
            "request_route" | "route" | "reply_route" | "onreply_route" | "failure_route"
            | "branch_route" | "onsend_route" | "event_route" => {
                self.pos += 1;
                self.route_block(w, span)
            }
            "flags" | "avpflags" | "bool" => {
                Err(self.err(span, format!("'{w}' declarations are not supported yet")))
            }
            _ => {
                // core parameter, or custom `group.name = value`
                let mut name = w.to_string();
                self.pos += 1;
                while is_punct(self.peek(), ".")
                    && matches!(
                        self.peek_at(1),
                        Some(Token {
                            tok: Tok::Ident(_),
                            ..
                        })
                    )
                {
                    name.push('.');
                    name.push_str(&self.peek_at(1).map(|t| t.text.clone()).unwrap_or_default());
                    self.pos += 2;
                }
                if !is_punct(self.peek(), "=") {
                    if super::params::is_known(&name) {
                        return Err(self.err(self.here(), format!("expected '=' after {name}")));
                    }
                    return Err(self.err(span, format!("unexpected '{name}'")));
                }
                self.pos += 1;
                let custom = name.contains('.') && !super::params::is_known(&name);
                if !custom && !super::params::is_known(&name) {
                    return Err(self.err(span, format!("unknown core parameter '{name}'")));
                }
                let vspan = self.here();
                let v = self.param_value(custom)?;
                if custom {
                    self.core.other.push((name, v));
                    return Ok(());
                }
                match self.core.apply(&name, v) {
                    Ok(Some(n)) => {
                        self.notices.push(n);
                        Ok(())
                    }
                    Ok(None) => Ok(()),
                    Err(m) => Err(self.err(vspan, m)),
                }
            }
        }
    }

    fn string_arg(&mut self, what: &str) -> R<(String, Span)> {
        match self.next() {
            Some(Token {
                tok: Tok::Str(s),
                span,
                ..
            }) => Ok((s.clone(), *span)),
            t => {
                let span = t.map(|t| t.span).unwrap_or_else(|| self.here());
                Err(self.err(
                    span,
                    format!("{what} needs a quoted string, found {}", Self::describe(t)),
                ))
            }
        }
    }

    /// The value of `name = value`: the tokens up to `;` or the end of the line.
    fn param_value(&mut self, custom: bool) -> R<ParamValue> {
        let start = self.pos;
        let mut end = self.pos;
        while let Some(t) = self.toks.get(end) {
            if (end > start && t.nl_before) || is_punct(Some(t), ";") {
                break;
            }
            if custom && end > start && is_ident(Some(t), "desc") {
                break;
            }
            // the next statement on the same line: `children=4 port=5060`
            if end > start {
                if let Tok::Ident(w) = &t.tok {
                    let next = self.toks.get(end + 1);
                    if is_punct(next, "=")
                        || matches!(
                            w.as_str(),
                            "loadmodule"
                                | "loadpath"
                                | "modparam"
                                | "request_route"
                                | "route"
                                | "reply_route"
                                | "onreply_route"
                                | "failure_route"
                                | "branch_route"
                                | "onsend_route"
                                | "event_route"
                        )
                    {
                        break;
                    }
                }
            }
            end += 1;
        }
        let vals = &self.toks[start..end];
        self.pos = end;
        if custom && is_ident(self.peek(), "desc") {
            self.pos += 1;
            self.string_arg("desc")?;
        }
        self.eat(";");
        let v = match vals {
            [] => return Err(self.err(self.here(), "missing value")),
            [Token {
                tok: Tok::Int(i), ..
            }] => ParamValue::Int(*i),
            [Token {
                tok: Tok::Str(s), ..
            }] => ParamValue::Str(s.clone()),
            [Token {
                tok: Tok::Punct("-"),
                ..
            }, Token {
                tok: Tok::Int(i), ..
            }] => ParamValue::Int(-*i),
            [Token {
                tok: Tok::Ident(w), ..
            }] => match w.as_str() {
                "yes" | "true" | "on" | "enable" => ParamValue::Int(1),
                "no" | "false" | "off" | "disable" => ParamValue::Int(0),
                _ => ParamValue::Str(w.clone()),
            },
            _ => {
                let mut s = String::new();
                for (i, t) in vals.iter().enumerate() {
                    if i > 0 && t.space_before {
                        s.push(' ');
                    }
                    match &t.tok {
                        Tok::Str(v) => s.push_str(v),
                        _ => s.push_str(&t.text),
                    }
                }
                ParamValue::Str(s)
            }
        };
        Ok(v)
    }

    fn modparam(&mut self) -> R<()> {
        self.expect("(")?;
        let (module, mspan) = self.string_arg("modparam")?;
        self.expect(",")?;
        let (param, pspan) = self.string_arg("modparam")?;
        self.expect(",")?;
        let vspan = self.here();
        let v = match self.next().map(|t| &t.tok) {
            Some(Tok::Int(i)) => ParamValue::Int(*i),
            Some(Tok::Str(s)) => ParamValue::Str(s.clone()),
            Some(Tok::Ident(w)) => match w.as_str() {
                "yes" | "true" | "on" | "enable" => ParamValue::Int(1),
                "no" | "false" | "off" | "disable" => ParamValue::Int(0),
                _ => {
                    return Err(self.err(
                        vspan,
                        format!("modparam value must be a number or a string, not '{w}'"),
                    ))
                }
            },
            Some(Tok::Punct("-")) => match self.next().map(|t| &t.tok) {
                Some(Tok::Int(i)) => ParamValue::Int(-*i),
                _ => return Err(self.err(vspan, "modparam value must be a number or a string")),
            },
            _ => return Err(self.err(vspan, "modparam value must be a number or a string")),
        };
        self.expect(")")?;
        self.eat(";");
        let Some(def) = modules::module(&module) else {
            if self.permissive {
                return Ok(());
            }
            return Err(self.err(
                mspan,
                format!("modparam for module {module}, which is not built into ferrosip"),
            ));
        };
        if !self.modules.contains(&module) {
            return Err(self.err(mspan, format!("modparam for module {module}, which is not loaded (loadmodule \"{module}.so\" first)")));
        }
        let Some((_, ty)) = def.params.iter().find(|(n, _)| *n == param) else {
            if self.permissive {
                return Ok(());
            }
            return Err(self.err(pspan, format!("module {module} has no parameter '{param}'")));
        };
        let v = match (ty, v) {
            (PType::Int, ParamValue::Int(i)) => ParamValue::Int(i),
            (PType::Int, ParamValue::Str(s)) => match s.trim().parse::<i64>() {
                Ok(i) => ParamValue::Int(i),
                Err(_) => {
                    return Err(self.err(
                        vspan,
                        format!("modparam {module}.{param} needs an integer, not \"{s}\""),
                    ))
                }
            },
            (PType::Str, ParamValue::Str(s)) => ParamValue::Str(s),
            (PType::Str, ParamValue::Int(_)) => {
                return Err(self.err(vspan, format!("modparam {module}.{param} needs a string")))
            }
        };
        if module == "dialog" && param.starts_with("profiles_") {
            self.profiles_span = Some(vspan);
        }
        if let (true, ParamValue::Str(spec)) = (module == "htable" && param == "htable", &v) {
            let def = ferrosip_state::htable::HtableDef::parse(spec)
                .map_err(|e| self.err(vspan, e.to_string()))?;
            if self.ht_names.contains(&def.name) {
                return Err(self.err(vspan, format!("htable '{}' is defined twice", def.name)));
            }
            self.ht_names.push(def.name);
        }
        self.modparams.push((module, param, v));
        Ok(())
    }

    // ---------------------------------------------------------------- routes

    fn route_slot(&mut self, kind: RouteKind, name: &str) -> R<u32> {
        if let Some(i) = self
            .routes
            .iter()
            .position(|r| r.kind == kind && r.name == name)
        {
            return u32::try_from(i).map_err(|_| self.err(self.here(), "too many routes"));
        }
        self.routes.push(RouteSlot {
            kind,
            name: name.to_string(),
            body: None,
            first_ref: None,
        });
        u32::try_from(self.routes.len() - 1).map_err(|_| self.err(self.here(), "too many routes"))
    }

    /// `[NAME]` after a route keyword: identifier, number, string, or an event name
    /// such as `core:worker-one-init`.
    fn route_name(&mut self) -> R<Option<(String, Span)>> {
        if !self.eat("[") {
            return Ok(None);
        }
        let span = self.here();
        let mut name = String::new();
        loop {
            match self.next() {
                Some(Token {
                    tok: Tok::Punct("]"),
                    ..
                }) => break,
                Some(Token {
                    tok: Tok::Str(s), ..
                }) => name.push_str(s),
                Some(Token {
                    tok: Tok::Punct(p @ (":" | "-" | ".")),
                    ..
                }) => name.push_str(p),
                Some(Token {
                    tok: Tok::Ident(_) | Tok::Int(_) | Tok::NumId(_),
                    text,
                    ..
                }) => name.push_str(text),
                t => {
                    let s = t.map(|t| t.span).unwrap_or(span);
                    return Err(self.err(
                        s,
                        format!("bad route name: unexpected {}", Self::describe(t)),
                    ));
                }
            }
        }
        if name.is_empty() {
            return Err(self.err(span, "empty route name"));
        }
        Ok(Some((name, span)))
    }

    fn route_block(&mut self, word: &str, span: Span) -> R<()> {
        let named = self.route_name()?;
        let nspan = named.as_ref().map(|n| n.1).unwrap_or(span);
        let name = named.map(|n| n.0);
        let (kind, name) = match (word, name) {
            ("request_route", None) | ("route", None) => (RouteKind::Request, "0".to_string()),
            ("route", Some(n)) => {
                let n = if n == "DEFAULT_ROUTE" {
                    "0".to_string()
                } else {
                    n
                };
                (RouteKind::Request, n)
            }
            ("reply_route", None) | ("onreply_route", None) => (RouteKind::Reply, "0".into()),
            ("onreply_route", Some(n)) if n == "0" => (RouteKind::Reply, n),
            ("onreply_route", Some(n)) => (RouteKind::OnReply, n),
            ("onsend_route", None) => (RouteKind::OnSend, "0".into()),
            ("failure_route", Some(n)) => (RouteKind::Failure, n),
            ("branch_route", Some(n)) => (RouteKind::Branch, n),
            ("event_route", Some(n)) => (RouteKind::Event, n),
            (w, Some(_)) => return Err(self.err(nspan, format!("{w} takes no name"))),
            (w, None) => return Err(self.err(span, format!("{w} needs a name: {w}[NAME]"))),
        };
        let slot = self.route_slot(kind, &name)? as usize;
        if self.routes[slot].body.is_some() {
            return Err(self.err(nspan, format!("route '{name}' ({kind:?}) is defined twice")));
        }
        if !is_punct(self.peek(), "{") {
            return Err(self.err(
                self.here(),
                format!(
                    "expected '{{' to open {word}, found {}",
                    Self::describe(self.peek())
                ),
            ));
        }
        let body = self.block()?;
        self.routes[slot].body = Some(body);
        Ok(())
    }

    // ---------------------------------------------------------------- statements

    fn block(&mut self) -> R<Box<[Stmt]>> {
        let open = self.expect("{")?;
        self.enter()?;
        let mut out = Vec::new();
        loop {
            if self.eat("}") {
                break;
            }
            if self.peek().is_none() {
                return Err(self.err(open, "'{' is never closed"));
            }
            if let Some(s) = self.stmt()? {
                out.push(s);
            }
        }
        self.nest -= 1;
        Ok(out.into_boxed_slice())
    }

    /// A statement or a block, as a body of `if`/`while`.
    fn body(&mut self) -> R<Box<[Stmt]>> {
        if is_punct(self.peek(), "{") {
            return self.block();
        }
        Ok(self.stmt()?.into_iter().collect())
    }

    fn end_stmt(&mut self) -> R<()> {
        if self.eat(";") {
            return Ok(());
        }
        Err(self.err(
            self.here(),
            format!("expected ';', found {}", Self::describe(self.peek())),
        ))
    }

    fn stmt(&mut self) -> R<Option<Stmt>> {
        let st = self.stmt_inner()?;
        if let Some((_, span)) = self.pending_out.take() {
            return Err(self.err(
                span,
                "get_profile_size with a result variable must be a statement of its own",
            ));
        }
        Ok(st)
    }

    /// A call statement; a call that writes a variable (`get_profile_size(.., $var(x))`)
    /// becomes the call followed by the assignment of its result.
    fn call_stmt(&mut self, e: Expr) -> Stmt {
        if let Expr::Call(b, _) = &e {
            if modules::FUNCS.iter().any(|f| f.builtin == *b && f.out_last) {
                if let Some((lv, _)) = self.pending_out.take() {
                    return Stmt::Block(Box::new([
                        Stmt::Eval(e),
                        Stmt::Assign(lv, AssignOp::Set, Expr::Pv(Pv::DlgProfileSize)),
                    ]));
                }
            }
        }
        Stmt::Eval(e)
    }

    fn stmt_inner(&mut self) -> R<Option<Stmt>> {
        let Some(t) = self.peek() else {
            return Err(self.err(self.here(), "unexpected end of file: expected a statement"));
        };
        match &t.tok {
            Tok::Punct(";") => {
                self.pos += 1;
                Ok(None)
            }
            Tok::Punct("{") => Ok(Some(Stmt::Block(self.block()?))),
            Tok::Pv(text) => {
                self.pos += 1;
                let lv = self.lvalue(text, t.span)?;
                let op = match self.peek().map(|t| &t.tok) {
                    Some(Tok::Punct("=")) => AssignOp::Set,
                    Some(Tok::Punct(":=")) => AssignOp::SetOnly,
                    Some(Tok::Punct("+=")) => AssignOp::Add,
                    _ => {
                        return Err(self.err(self.here(), format!("expected '=' after {text}")));
                    }
                };
                self.pos += 1;
                let (e, _) = self.expr()?;
                self.end_stmt()?;
                Ok(Some(Stmt::Assign(lv, op, e)))
            }
            Tok::Ident(w) => match w.as_str() {
                "if" => {
                    self.pos += 1;
                    self.enter()?;
                    let (c, _) = self.expr()?;
                    let then = self.body()?;
                    let els = if is_ident(self.peek(), "else") {
                        self.pos += 1;
                        self.body()?
                    } else {
                        Box::default()
                    };
                    self.nest -= 1;
                    Ok(Some(Stmt::If(c, then, els)))
                }
                "while" => {
                    self.pos += 1;
                    self.enter()?;
                    let (c, _) = self.expr()?;
                    let body = self.body()?;
                    self.nest -= 1;
                    Ok(Some(Stmt::While(c, body)))
                }
                "switch" => {
                    self.pos += 1;
                    self.switch().map(Some)
                }
                "return" => {
                    self.pos += 1;
                    if self.eat(";") {
                        return Ok(Some(Stmt::Return(None)));
                    }
                    let (e, _) = self.expr()?;
                    self.end_stmt()?;
                    Ok(Some(Stmt::Return(Some(e))))
                }
                "exit" | "drop" | "break" => {
                    self.pos += 1;
                    // `exit()` / `drop()` are accepted like Kamailio's grammar does
                    if is_punct(self.peek(), "(") && is_punct(self.peek_at(1), ")") {
                        self.pos += 2;
                    }
                    self.end_stmt()?;
                    Ok(Some(match w.as_str() {
                        "exit" => Stmt::Exit,
                        "drop" => Stmt::Drop,
                        _ => Stmt::Break,
                    }))
                }
                "else" => Err(self.err(t.span, "'else' without 'if'")),
                "case" | "default" => Err(self.err(t.span, format!("'{w}' outside switch"))),
                _ => {
                    let (e, _) = self.expr()?;
                    self.end_stmt()?;
                    Ok(Some(self.call_stmt(e)))
                }
            },
            _ => {
                let (e, _) = self.expr()?;
                self.end_stmt()?;
                Ok(Some(self.call_stmt(e)))
            }
        }
    }

    fn switch(&mut self) -> R<Stmt> {
        self.enter()?;
        let (value, _) = self.expr()?;
        self.expect("{")?;
        let mut cases: Vec<(Value<'static>, usize)> = Vec::new();
        let mut default = None;
        let mut body = Vec::new();
        loop {
            let t = self.peek();
            if self.eat("}") {
                break;
            }
            let Some(t) = t else {
                return Err(self.err(self.here(), "switch is never closed"));
            };
            if is_ident(Some(t), "case") {
                self.pos += 1;
                let lspan = self.here();
                let label = match self.next().map(|t| &t.tok) {
                    Some(Tok::Int(i)) => Value::Int(*i),
                    Some(Tok::Str(s)) => Value::Str(Cow::Owned(s.clone())),
                    Some(Tok::Punct("-")) => match self.next().map(|t| &t.tok) {
                        Some(Tok::Int(i)) => Value::Int(-*i),
                        _ => return Err(self.err(lspan, "case label must be a number or a string")),
                    },
                    _ => return Err(self.err(lspan, "case label must be a number or a string")),
                };
                self.expect(":")?;
                if cases.iter().any(|(l, _)| *l == label) {
                    return Err(self.err(lspan, "duplicate case label"));
                }
                cases.push((label, body.len()));
            } else if is_ident(Some(t), "default") {
                self.pos += 1;
                self.expect(":")?;
                if default.is_some() {
                    return Err(self.err(t.span, "second 'default' in switch"));
                }
                default = Some(body.len());
            } else {
                if cases.is_empty() && default.is_none() {
                    return Err(self.err(t.span, "expected 'case' or 'default' in switch"));
                }
                if let Some(s) = self.stmt()? {
                    body.push(s);
                }
            }
        }
        self.nest -= 1;
        Ok(Stmt::Switch {
            value,
            cases: cases.into_boxed_slice(),
            default,
            body: body.into_boxed_slice(),
        })
    }

    // ---------------------------------------------------------------- pseudo-variables

    fn intern(list: &mut Vec<String>, name: &str) -> u32 {
        if let Some(i) = list.iter().position(|n| n == name) {
            return i as u32;
        }
        list.push(name.to_string());
        (list.len() - 1) as u32
    }

    fn pv(&mut self, text: &str, span: Span) -> R<PvRef> {
        match text {
            "$null" => return Ok(PvRef::Null),
            "$rc" | "$retcode" | "$?" => return Ok(PvRef::RetCode),
            _ => {}
        }
        if let Some(inner) = text.strip_prefix("$(").and_then(|s| s.strip_suffix(')')) {
            if self.permissive && (inner.contains('{') || inner.contains('[')) {
                return Ok(PvRef::Null);
            }
            if inner.contains('{') {
                return Err(self.err(
                    span,
                    format!("transformations are not supported yet: {text}"),
                ));
            }
            if inner.contains('[') {
                return Err(self.err(
                    span,
                    format!("indexed pseudo-variables are not supported yet: {text}"),
                ));
            }
            return self.pv(&format!("${inner}"), span);
        }
        let body = text.strip_prefix('$').unwrap_or(text);
        let (name, arg) = match body.find('(') {
            Some(i) => {
                let a = body[i + 1..].strip_suffix(')').unwrap_or(&body[i + 1..]);
                (&body[..i], Some(a.trim()))
            }
            None => (body, None),
        };
        let host = |p: Pv| Ok(PvRef::Host(p));
        match (name, arg) {
            ("var", Some(a)) if !a.is_empty() => Ok(PvRef::Var(Self::intern(&mut self.vars, a))),
            ("avp", Some(a)) if !a.is_empty() => {
                let a = a.strip_prefix("s:").unwrap_or(a);
                Ok(PvRef::Avp(Self::intern(&mut self.avps, a)))
            }
            ("hdr", Some(a)) if !a.is_empty() => {
                if !a
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.!%*+`'~".contains(&b))
                {
                    return Err(self.err(span, format!("bad header name in {text}")));
                }
                host(Pv::Hdr(a.to_string()))
            }
            ("rm", None) => host(Pv::Rm),
            ("ru", None) => host(Pv::Ru),
            ("rU", None) => host(Pv::RUser),
            ("rd", None) => host(Pv::Rd),
            ("rp", None) => host(Pv::Rp),
            ("du", None) => host(Pv::Du),
            ("fu", None) => host(Pv::Fu),
            ("fU", None) => host(Pv::FUser),
            ("fd", None) => host(Pv::Fd),
            ("ft", None) => host(Pv::Ft),
            ("tu", None) => host(Pv::Tu),
            ("tU", None) => host(Pv::TUser),
            ("td", None) => host(Pv::Td),
            ("tt", None) => host(Pv::Tt),
            ("ci", None) => host(Pv::Ci),
            ("cs", None) => host(Pv::Cs),
            ("si", None) => host(Pv::Si),
            ("sp", None) => host(Pv::Sp),
            ("Ri", None) => host(Pv::Ri),
            ("Rp", None) => host(Pv::RpLocal),
            ("pr" | "proto", None) => host(Pv::Pr),
            ("ml", None) => host(Pv::Ml),
            ("mb", None) => host(Pv::Mb),
            ("ua", None) => host(Pv::Ua),
            ("rs", None) => host(Pv::Rs),
            ("rr", None) => host(Pv::Rr),
            ("Ts", None) => host(Pv::Ts),
            ("T_reply_code", None) => host(Pv::TReplyCode),
            ("T_branch_idx", None) => host(Pv::TBranchIdx),
            ("au", None) => host(Pv::AuthUser),
            ("ad", None) => host(Pv::AuthDomain),
            ("aU", None) => host(Pv::AuthUsername),
            ("ar", None) => host(Pv::AuthRealm),
            ("adu", None) => host(Pv::AuthUri),
            ("aa", None) => host(Pv::AuthAlg),
            ("dlg", Some(a)) => host(Pv::Dlg(match a {
                "state" => DlgAttr::State,
                "h_id" => DlgAttr::HId,
                "h_entry" => DlgAttr::HEntry,
                "callid" => DlgAttr::CallId,
                "from_tag" => DlgAttr::FromTag,
                "to_tag" => DlgAttr::ToTag,
                "start_ts" => DlgAttr::StartTs,
                "lifetime" => DlgAttr::Lifetime,
                _ if self.permissive => return Ok(PvRef::Null),
                _ => return Err(self.err(span, format!("unknown dialog attribute in {text}"))),
            })),
            ("dlg_var", Some(a)) if !a.is_empty() => host(Pv::DlgVar(a.to_string())),
            ("sht", Some(a)) => self.sht_pv(HtAttr::Value, a, span, text),
            ("shtex", Some(a)) => self.sht_pv(HtAttr::Expires, a, span, text),
            ("shtcn", Some(a)) => self.sht_pv(HtAttr::CountNames, a, span, text),
            ("shtcv", Some(a)) => self.sht_pv(HtAttr::CountValues, a, span, text),
            ("shtinc", Some(a)) => self.sht_pv(HtAttr::Inc, a, span, text),
            ("shtdec", Some(a)) => self.sht_pv(HtAttr::Dec, a, span, text),
            _ if self.permissive => Ok(PvRef::Null),
            _ => Err(self.err(span, format!("unknown pseudo-variable {text}"))),
        }
    }

    /// `$sht(table=>key)` & co.: the table is checked at the end of the file, the key is a
    /// string with pseudo-variables in it (Kamailio's format), evaluated at run time.
    fn sht_pv(&mut self, attr: HtAttr, arg: &str, span: Span, text: &str) -> R<PvRef> {
        let Some((table, key)) = arg.split_once("=>") else {
            return Err(self.err(span, format!("{text}: expected table=>key")));
        };
        let table = table.trim();
        if table.is_empty() {
            return Err(self.err(span, format!("{text}: missing table name")));
        }
        if key.is_empty() {
            return Err(self.err(span, format!("{text}: missing key")));
        }
        if table.contains('$') {
            return Err(self.err(
                span,
                format!("{text}: a table name with pseudo-variables is not supported"),
            ));
        }
        let key_expr = self.format(key, span, text)?;
        self.ht_refs.push((table.to_string(), span));
        Ok(PvRef::Keyed(Pv::Sht(attr, table.to_string()), key_expr))
    }

    fn pv_expr(&mut self, text: &str, span: Span) -> R<Expr> {
        Ok(match self.pv(text, span)? {
            PvRef::Keyed(p, k) => Expr::KeyedPv(p, Box::new(k)),
            PvRef::Host(p) => Expr::Pv(p),
            PvRef::Var(i) => Expr::Var(i),
            PvRef::Avp(i) => Expr::Avp(i),
            PvRef::RetCode => Expr::RetCode,
            PvRef::Null => Expr::Const(Value::Null),
        })
    }

    fn lvalue(&mut self, text: &str, span: Span) -> R<LVal> {
        match self.pv(text, span)? {
            PvRef::Host(p @ (Pv::Ru | Pv::RUser | Pv::Rd | Pv::Rp | Pv::Du | Pv::DlgVar(_))) => {
                Ok(LVal::Pv(p))
            }
            PvRef::Var(i) => Ok(LVal::Var(i)),
            PvRef::Avp(i) => Ok(LVal::Avp(i)),
            PvRef::Keyed(p @ Pv::Sht(HtAttr::Value | HtAttr::Expires, _), k) => {
                Ok(LVal::KeyedPv(p, Box::new(k)))
            }
            _ if self.permissive => Ok(LVal::Var(Self::intern(&mut self.vars, "\0ignored"))),
            _ => Err(self.err(span, format!("{text} is read-only"))),
        }
    }

    /// A string with pseudo-variables in it (`"$rm from $si"`), split at compile time.
    /// `raw` is the literal as written, used to point errors at the pseudo-variable itself.
    fn format(&mut self, s: &str, span: Span, raw: &str) -> R<Expr> {
        let mut segs: Vec<Seg> = Vec::new();
        let mut lit = String::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' && b.get(i + 1) == Some(&b'$') {
                // `$$` is a literal `$`
                lit.push('$');
                i += 2;
            } else if b[i] == b'$'
                && i + 1 < b.len()
                && (b[i + 1] == b'(' || b[i + 1].is_ascii_alphabetic() || b[i + 1] == b'_')
            {
                let start = i;
                let mut j = i + 1;
                if b[j] != b'(' {
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                }
                if j < b.len() && b[j] == b'(' {
                    let mut nest = 0;
                    while j < b.len() {
                        match b[j] {
                            b'(' => nest += 1,
                            b')' => {
                                nest -= 1;
                                if nest == 0 {
                                    j += 1;
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    if nest != 0 {
                        return Err(
                            self.err(span, format!("unterminated pseudo-variable in \"{s}\""))
                        );
                    }
                }
                let text = &s[start..j];
                let pspan = match raw.find(text) {
                    Some(k) if !raw[..k].contains('\n') => Span {
                        col: span.col.saturating_add(raw[..k].chars().count() as u32),
                        ..span
                    },
                    _ => span,
                };
                let e = self.pv_expr(text, pspan)?;
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                }
                segs.push(Seg::Val(e));
                i = j;
            } else {
                // push one (possibly multi-byte) char
                let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
                lit.push_str(&s[i..i + ch_len]);
                i += ch_len;
            }
        }
        if segs.is_empty() {
            return Ok(Expr::Const(Value::Str(Cow::Owned(lit))));
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit));
        }
        Ok(Expr::Format(segs.into_boxed_slice()))
    }

    // ---------------------------------------------------------------- expressions

    fn expr(&mut self) -> R<(Expr, Span)> {
        self.enter()?;
        let r = self.or_expr();
        self.nest -= 1;
        r
    }

    /// `a || b || c` as one n-ary node (flat, so long chains cost no recursion depth).
    fn or_expr(&mut self) -> R<(Expr, Span)> {
        let (first, span) = self.and_expr()?;
        let mut list = vec![first];
        while is_punct(self.peek(), "||") || is_ident(self.peek(), "or") {
            self.pos += 1;
            list.push(self.and_expr()?.0);
        }
        if list.len() == 1 {
            return Ok((list.pop().unwrap_or(Expr::Const(Value::Null)), span));
        }
        Ok((Expr::Or(list.into_boxed_slice()), span))
    }

    fn and_expr(&mut self) -> R<(Expr, Span)> {
        let (first, span) = self.bin_expr(0)?;
        let mut list = vec![first];
        while is_punct(self.peek(), "&&") || is_ident(self.peek(), "and") {
            self.pos += 1;
            list.push(self.bin_expr(0)?.0);
        }
        if list.len() == 1 {
            return Ok((list.pop().unwrap_or(Expr::Const(Value::Null)), span));
        }
        Ok((Expr::And(list.into_boxed_slice()), span))
    }

    /// The binary operator at the cursor and its precedence level, loosest first (Kamailio
    /// `cfg.y`): 0 `|`, 1 `&`, 2 `^`, 3 `<< >>`, 4 `== != =~ !~ eq ne ieq ine`,
    /// 5 `< > <= >=`, 6 `+ -`, 7 `* / % mod`.
    fn op_prec(&self) -> Option<(&'static str, usize)> {
        const LEVELS: [&[&str]; 8] = [
            &["|"],
            &["&"],
            &["^"],
            &["<<", ">>"],
            &["==", "!=", "=~", "!~", "eq", "ne", "ieq", "ine"],
            &["<", ">", "<=", ">="],
            &["+", "-"],
            &["*", "/", "%", "mod"],
        ];
        let t = self.peek()?;
        let s = match &t.tok {
            Tok::Punct(p) => *p,
            Tok::Ident(w) => w.as_str(),
            _ => return None,
        };
        LEVELS
            .iter()
            .enumerate()
            .find_map(|(i, l)| l.iter().find(|o| **o == s).map(|o| (*o, i)))
    }

    /// Precedence climbing over the binary operators with level `>= min`.
    fn bin_expr(&mut self, min: usize) -> R<(Expr, Span)> {
        let (mut l, span) = self.unary()?;
        let mut depth = 0;
        let r = loop {
            let Some((op, prec)) = self.op_prec() else {
                break Ok((l, span));
            };
            if prec < min {
                break Ok((l, span));
            }
            if prec == 4 || prec == 5 {
                // comparisons nest (`a == b == c`): each counts toward the depth bound
                let opspan = self.here();
                self.pos += 1;
                if let Err(e) = self.enter() {
                    break Err(e);
                }
                depth += 1;
                let (r, rspan) = match self.bin_expr(prec + 1) {
                    Ok(x) => x,
                    Err(e) => break Err(e),
                };
                l = match self.compare(op, l, r, opspan, rspan) {
                    Ok(x) => x,
                    Err(e) => break Err(e),
                };
                continue;
            }
            // arithmetic: one flat left-to-right chain per precedence level
            let mut rest = Vec::new();
            while let Some((op, p)) = self.op_prec() {
                if p != prec {
                    break;
                }
                self.pos += 1;
                let r = match self.bin_expr(prec + 1) {
                    Ok(x) => x.0,
                    Err(e) => return Err(e),
                };
                rest.push((arith_op(op), r));
            }
            l = match self.fold(l, rest, span) {
                Ok(x) => x,
                Err(e) => break Err(e),
            };
        };
        self.nest -= depth;
        r
    }

    /// Builds an arithmetic chain, folding it when every operand is a constant.
    fn fold(&self, l: Expr, rest: Vec<(ArithOp, Expr)>, span: Span) -> R<Expr> {
        if let Expr::Const(c) = &l {
            if rest.iter().all(|(_, e)| matches!(e, Expr::Const(_))) {
                let mut acc = c.clone();
                for (o, e) in &rest {
                    if let Expr::Const(v) = e {
                        if matches!(o, ArithOp::Div | ArithOp::Mod) && super::script::to_int(v) == 0
                        {
                            return Err(self.err(span, "division by zero"));
                        }
                        acc = super::script::arith(*o, acc, v.clone());
                    }
                }
                return Ok(Expr::Const(acc));
            }
        }
        Ok(Expr::Arith(Box::new(l), rest.into_boxed_slice()))
    }

    fn compare(&mut self, op: &str, l: Expr, r: Expr, opspan: Span, rspan: Span) -> R<Expr> {
        match op {
            "=~" | "!~" => {
                let neg = op == "!~";
                let re = match &r {
                    Expr::Const(Value::Str(p)) => {
                        let re = regex::RegexBuilder::new(p)
                            .case_insensitive(true)
                            .build()
                            .map_err(|e| self.err(rspan, format!("bad regular expression: {e}")))?;
                        Re::Const(Box::new(re))
                    }
                    _ => Re::Dyn(Box::new(r)),
                };
                Ok(Expr::Match(neg, Box::new(l), re))
            }
            _ => {
                let cop = match op {
                    "==" | "eq" | "ieq" => CmpOp::Eq,
                    "!=" | "ne" | "ine" => CmpOp::Ne,
                    "<" => CmpOp::Lt,
                    ">" => CmpOp::Gt,
                    "<=" => CmpOp::Le,
                    _ => CmpOp::Ge,
                };
                let myself = |e: &Expr| matches!(e, Expr::Keyword(Keyword::Myself));
                if myself(&l) || myself(&r) {
                    if !matches!(cop, CmpOp::Eq | CmpOp::Ne) {
                        return Err(self.err(opspan, "myself can only be compared with == or !="));
                    }
                    let other = if myself(&r) { l } else { r };
                    return Ok(Expr::Myself(cop == CmpOp::Ne, Box::new(other)));
                }
                if let Expr::Net(net, _) = &r {
                    if matches!(cop, CmpOp::Eq | CmpOp::Ne) {
                        return Ok(Expr::InNet(cop == CmpOp::Ne, Box::new(l), net.clone()));
                    }
                }
                let kw = |e: &Expr, k: Keyword| matches!(e, Expr::Keyword(x) if *x == k);
                let mode = match op {
                    "eq" | "ne" => CmpMode::Str,
                    "ieq" | "ine" => CmpMode::Int,
                    _ if kw(&l, Keyword::Af) || kw(&r, Keyword::Af) => CmpMode::Af,
                    _ if kw(&l, Keyword::Method)
                        || kw(&r, Keyword::Method)
                        || kw(&l, Keyword::Proto)
                        || kw(&r, Keyword::Proto)
                        || matches!(l, Expr::Pv(Pv::Pr)) =>
                    {
                        CmpMode::NoCase
                    }
                    _ => CmpMode::Generic,
                };
                Ok(Expr::Cmp(cop, mode, Box::new(l), Box::new(r)))
            }
        }
    }

    fn unary(&mut self) -> R<(Expr, Span)> {
        let span = self.here();
        let t = self.peek();
        if is_punct(t, "!") || is_ident(t, "not") {
            self.pos += 1;
            self.enter()?;
            let (e, _) = self.unary()?;
            self.nest -= 1;
            return Ok((Expr::Not(Box::new(e)), span));
        }
        if is_punct(t, "-") {
            self.pos += 1;
            self.enter()?;
            let (e, _) = self.unary()?;
            self.nest -= 1;
            return Ok((
                match e {
                    Expr::Const(Value::Int(i)) => Expr::Const(Value::Int(i.wrapping_neg())),
                    e => Expr::Neg(Box::new(e)),
                },
                span,
            ));
        }
        if is_punct(t, "~") {
            self.pos += 1;
            self.enter()?;
            let (e, _) = self.unary()?;
            self.nest -= 1;
            return Ok((Expr::BitNot(Box::new(e)), span));
        }
        if is_ident(t, "defined") {
            self.pos += 1;
            self.enter()?;
            let (e, _) = self.unary()?;
            self.nest -= 1;
            return Ok((Expr::Defined(Box::new(e)), span));
        }
        // casts (int) / (str)
        if is_punct(t, "(")
            && (is_ident(self.peek_at(1), "int") || is_ident(self.peek_at(1), "str"))
            && is_punct(self.peek_at(2), ")")
        {
            let to_int = is_ident(self.peek_at(1), "int");
            self.pos += 3;
            self.enter()?;
            let (e, _) = self.unary()?;
            self.nest -= 1;
            return Ok((
                if to_int {
                    Expr::CastInt(Box::new(e))
                } else {
                    Expr::CastStr(Box::new(e))
                },
                span,
            ));
        }
        self.primary()
    }

    fn primary(&mut self) -> R<(Expr, Span)> {
        let span = self.here();
        let Some(t) = self.next() else {
            return Err(self.err(span, "unexpected end of file in an expression"));
        };
        let e = match &t.tok {
            Tok::Int(i) => Expr::Const(Value::Int(*i)),
            Tok::Str(s) => Expr::Const(Value::Str(Cow::Owned(s.clone()))),
            Tok::Pv(text) => self.pv_expr(text, span)?,
            Tok::Ip(text) => {
                let addr: IpAddr = text
                    .parse()
                    .map_err(|_| self.err(span, format!("invalid IP address '{text}'")))?;
                let mut prefix = if addr.is_ipv4() { 32 } else { 128 };
                let mut full = text.clone();
                if is_punct(self.peek(), "/") {
                    if let Some(Token {
                        tok: Tok::Int(m), ..
                    }) = self.peek_at(1)
                    {
                        let max = if addr.is_ipv4() { 32 } else { 128 };
                        if *m < 0 || *m > max {
                            return Err(self.err(span, format!("invalid network mask /{m}")));
                        }
                        prefix = *m as u8;
                        full = format!("{text}/{m}");
                        self.pos += 2;
                    } else if let Some(Token {
                        tok: Tok::Ip(m),
                        span: ms,
                        ..
                    }) = self.peek_at(1)
                    {
                        let mask: std::net::Ipv4Addr = m
                            .parse()
                            .map_err(|_| self.err(*ms, format!("invalid network mask {m}")))?;
                        prefix = u32::from(mask).count_ones() as u8;
                        full = format!("{text}/{m}");
                        self.pos += 2;
                    }
                }
                Expr::Net(Net { addr, prefix }, full)
            }
            Tok::Punct("[") => {
                // bracketed IPv6 literal: [2001:db8::1] or [2001:db8::]/32
                let mut text = String::new();
                loop {
                    match self.next() {
                        Some(Token {
                            tok: Tok::Punct("]"),
                            ..
                        }) => break,
                        Some(t) if !matches!(t.tok, Tok::Str(_) | Tok::Pv(_)) => {
                            text.push_str(&t.text)
                        }
                        _ => return Err(self.err(span, "expected an IPv6 address in [...]")),
                    }
                }
                let addr: std::net::Ipv6Addr = text
                    .parse()
                    .map_err(|_| self.err(span, format!("invalid IPv6 address '{text}'")))?;
                let mut prefix = 128u8;
                let mut full = text.clone();
                if is_punct(self.peek(), "/") {
                    if let Some(Token {
                        tok: Tok::Int(m), ..
                    }) = self.peek_at(1)
                    {
                        if !(0..=128).contains(m) {
                            return Err(self.err(span, format!("invalid network mask /{m}")));
                        }
                        prefix = *m as u8;
                        full = format!("{text}/{m}");
                        self.pos += 2;
                    }
                }
                Expr::Net(
                    Net {
                        addr: IpAddr::V6(addr),
                        prefix,
                    },
                    full,
                )
            }
            Tok::Punct("(") => {
                let (e, _) = self.expr()?;
                self.expect(")")?;
                e
            }
            Tok::Ident(w) => self.ident_expr(w, span)?,
            Tok::Punct("@") => {
                return Err(self.err(span, "select expressions (@...) are not supported"))
            }
            _ => {
                return Err(self.err(
                    span,
                    format!("unexpected {} in an expression", Self::describe(Some(t))),
                ))
            }
        };
        Ok((e, span))
    }

    fn ident_expr(&mut self, w: &str, span: Span) -> R<Expr> {
        let kw = |k| Ok(Expr::Keyword(k));
        let call_follows = is_punct(self.peek(), "(");
        match w {
            "method" => return kw(Keyword::Method),
            "uri" => return kw(Keyword::Uri),
            "status" => return kw(Keyword::Status),
            "from_uri" => return kw(Keyword::FromUri),
            "to_uri" => return kw(Keyword::ToUri),
            "src_ip" => return kw(Keyword::SrcIp),
            "src_port" => return kw(Keyword::SrcPort),
            "dst_ip" => return kw(Keyword::DstIp),
            "dst_port" => return kw(Keyword::DstPort),
            "proto" => return kw(Keyword::Proto),
            "af" => return kw(Keyword::Af),
            "myself" => return kw(Keyword::Myself),
            // Kamailio's BUF_SIZE, the largest message it handles
            "max_len" => return Ok(Expr::Const(Value::Int(65535))),
            "msg" if is_punct(self.peek(), ":") && is_ident(self.peek_at(1), "len") => {
                self.pos += 2;
                return kw(Keyword::MsgLen);
            }
            "snd_ip" | "snd_port" | "snd_proto" | "to_proto" | "snd_af" | "to_af" | "to_ip"
            | "to_port" => {
                return Err(self.err(
                    span,
                    format!("'{w}' is not supported yet (onsend_route keywords)"),
                ))
            }
            "udp" | "UDP" | "tcp" | "TCP" | "tls" | "TLS" | "sctp" | "SCTP" | "ws" | "WS"
            | "wss" | "WSS" => {
                return Ok(Expr::Const(Value::Str(Cow::Owned(w.to_ascii_lowercase()))))
            }
            "inet" | "INET" => return Ok(Expr::Const(Value::Int(2))),
            "inet6" | "INET6" => return Ok(Expr::Const(Value::Int(10))),
            "yes" | "true" | "on" | "enable" => return Ok(Expr::Const(Value::Int(1))),
            "no" | "false" | "off" | "disable" => return Ok(Expr::Const(Value::Int(0))),
            "strlen" | "strempty" if call_follows => {
                self.pos += 1;
                let (e, _) = self.expr()?;
                self.expect(")")?;
                return Ok(if w == "strlen" {
                    Expr::StrLen(Box::new(e))
                } else {
                    Expr::StrEmpty(Box::new(e))
                });
            }
            "route" if call_follows => {
                self.pos += 1;
                let nspan = self.here();
                let name = match self.next() {
                    Some(Token {
                        tok: Tok::Str(s), ..
                    }) => s.clone(),
                    Some(Token {
                        tok: Tok::Ident(_) | Tok::Int(_) | Tok::NumId(_),
                        text,
                        ..
                    }) => text.clone(),
                    t => {
                        return Err(self.err(
                            nspan,
                            format!("route() needs a route name, found {}", Self::describe(t)),
                        ))
                    }
                };
                self.expect(")")?;
                let id = self.route_slot(RouteKind::Request, &name)?;
                if let Some(r) = self.routes.get_mut(id as usize) {
                    r.first_ref.get_or_insert(nspan);
                }
                return Ok(Expr::Route(RouteId(id)));
            }
            _ => {}
        }
        let def = modules::func(w);
        if call_follows || def.is_some() {
            let Some(def) = def else {
                if self.permissive {
                    if self.eat("(") && !self.eat(")") {
                        loop {
                            self.expr()?;
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    return Ok(Expr::Const(Value::Int(1)));
                }
                return Err(self.err(span, format!("unknown function '{w}'")));
            };
            if def.module != "core" && !self.modules.iter().any(|m| m == def.module) {
                return Err(self.err(
                    span,
                    format!("function {w} needs loadmodule \"{}.so\"", def.module),
                ));
            }
            let mut args: Vec<(Expr, Span)> = Vec::new();
            if self.eat("(") && !self.eat(")") {
                loop {
                    let aspan = self.here();
                    // a string literal argument is a dynamic string (may hold $pv)
                    let lit = match self.peek() {
                        Some(Token {
                            tok: Tok::Str(s),
                            text,
                            ..
                        }) if is_punct(self.peek_at(1), ",") || is_punct(self.peek_at(1), ")") => {
                            Some((s.clone(), text.clone()))
                        }
                        _ => None,
                    };
                    let e = match lit {
                        Some((s, raw)) => {
                            self.pos += 1;
                            self.format(&s, aspan, &raw)?
                        }
                        None => self.expr()?.0,
                    };
                    args.push((e, aspan));
                    if self.eat(")") {
                        break;
                    }
                    self.expect(",")?;
                }
            }
            let n = args.len();
            if n < def.min || n > def.max || n > MAX_ARGS {
                let want = if def.min == def.max {
                    format!("{}", def.min)
                } else {
                    format!("{} to {}", def.min, def.max)
                };
                let s = if def.max == 1 && def.min == 1 {
                    ""
                } else {
                    "s"
                };
                return Err(self.err(
                    span,
                    format!("function {w} takes {want} argument{s}, got {n}"),
                ));
            }
            let spans: Vec<Span> = args.iter().map(|(_, s)| *s).collect();
            let mut out = Vec::with_capacity(n);
            for (i, (e, aspan)) in args.into_iter().enumerate() {
                if let (0, Some(kind)) = (i, def.route_arg) {
                    let name = match &e {
                        Expr::Const(Value::Str(s)) => s.to_string(),
                        Expr::Const(Value::Int(v)) => v.to_string(),
                        _ => {
                            return Err(
                                self.err(aspan, format!("argument 1 of {w} must be a route name"))
                            )
                        }
                    };
                    let id = self.route_slot(kind, &name)?;
                    if let Some(r) = self.routes.get_mut(id as usize) {
                        r.first_ref.get_or_insert(aspan);
                    }
                    out.push(Expr::Const(Value::Int(i64::from(id))));
                    continue;
                }
                let e = match e {
                    Expr::Const(Value::Str(s)) if def.int_args.contains(&i) => {
                        match super::script::parse_int(&s) {
                            Some(v) => Expr::Const(Value::Int(v)),
                            None => {
                                return Err(self.err(
                                    aspan,
                                    format!(
                                        "argument {} of {w} must be a number, not \"{s}\"",
                                        i + 1
                                    ),
                                ))
                            }
                        }
                    }
                    e => e,
                };
                out.push(e);
            }
            if def.profile_arg {
                let aspan = spans.first().copied().unwrap_or(span);
                match out.first() {
                    Some(Expr::Const(Value::Str(p))) => {
                        self.profile_refs.push((p.to_string(), aspan))
                    }
                    _ if self.permissive => {}
                    _ => {
                        return Err(self.err(
                            aspan,
                            format!("argument 1 of {w} must be a constant profile name"),
                        ))
                    }
                }
            }
            if def.module == "htable" {
                // a constant table name (`sht_rm("t", ..)`, `sht_lock("t=>k")`) must be defined
                if let Some(Expr::Const(Value::Str(a))) = out.first() {
                    let t = a.split_once("=>").map_or(a.as_ref(), |x| x.0).trim();
                    if !t.is_empty() {
                        let aspan = spans.first().copied().unwrap_or(span);
                        self.ht_refs.push((t.to_string(), aspan));
                    }
                }
            }
            if def.out_last && out.len() >= 2 {
                let aspan = spans.last().copied().unwrap_or(span);
                let lv = match out.pop() {
                    Some(Expr::Format(segs)) if segs.len() == 1 => match segs.into_vec().pop() {
                        Some(Seg::Val(e)) => out_lval(e),
                        _ => None,
                    },
                    Some(e) => out_lval(e),
                    None => None,
                };
                let Some(lv) = lv else {
                    return Err(self.err(
                        aspan,
                        format!("the last argument of {w} must be a writable variable ($var, $avp, ...)"),
                    ));
                };
                if self.pending_out.is_some() {
                    return Err(self.err(span, format!("{w} cannot be nested in another call")));
                }
                self.pending_out = Some((lv, span));
            }
            if def.builtin == Builtin::Xlog && out.len() == 3 {
                // xlog(facility, level, fmt): the syslog facility means nothing here
                out.remove(0);
            }
            return Ok(Expr::Call(def.builtin, out.into_boxed_slice()));
        }
        Err(self.err(span, format!("unexpected '{w}' in an expression")))
    }
}

/// The variable an argument names, when it can be written (`get_profile_size`'s result).
fn out_lval(e: Expr) -> Option<LVal> {
    match e {
        Expr::Var(i) => Some(LVal::Var(i)),
        Expr::Avp(i) => Some(LVal::Avp(i)),
        Expr::Pv(p @ (Pv::Ru | Pv::RUser | Pv::Rd | Pv::Rp | Pv::Du | Pv::DlgVar(_))) => {
            Some(LVal::Pv(p))
        }
        _ => None,
    }
}
