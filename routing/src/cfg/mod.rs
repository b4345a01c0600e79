//! The configuration language: preprocessor, parser, checker, compiler and interpreter.
//!
//! [`Config::load`] reads a `kamailio.cfg`-dialect file: the preprocessor (`#!define`,
//! `#!ifdef`, `#!substdef`, `include_file`, `-A` defines) and lexer run in one pass, the parser
//! checks every name (core parameters, modules and their parameters, functions and their arity,
//! pseudo-variables, routes) and compiles the routes to a [`Script`]. Every error is a
//! [`CfgError`] with the `file:line:col` of the offending token; no input makes this panic.
//!
//! A worker keeps a clone of the [`Script`] and one [`ScriptVars`], and calls [`Script::run`]
//! per message with a [`crate::names::Host`] that carries out the built-in functions.
//!
//! Conventions the message side can rely on: constant arguments in integer positions
//! (`sl_send_reply("404", ..)` code, `mf_process_maxfwd_header("10")`, `sanity_check` masks,
//! flags, `forward` port) arrive as [`crate::names::Value::Int`]; other constants arrive as
//! borrowed strings; `xlog(facility, level, fmt)` arrives as `(level, fmt)`;
//! [`crate::names::Host::is_myself`] gets the operand as written (a whole URI for
//! `uri`/`from_uri`/`to_uri`/`$ru`, a host or IP for `$rd`/`src_ip`).
//!
//! Not supported yet (each is a precise [`CfgError`]): pseudo-variable transformations
//! `$(x{...})` and indexes `$(x[n])`, selects `@...`, `flags`/`avpflags` declarations, dynamic
//! `route($var(x))`, hostnames as `src_ip` operands, the onsend-only keywords
//! (`snd_ip`, `to_ip`, ...), and every module other than core, sl, maxfwd, sanity, textops,
//! xlog, pv, kex, corex, rr and siputils (`has_totag` only).

use std::fmt;
use std::path::Path;

mod lex;
mod modules;
mod params;
mod parse;
pub(crate) mod script;
#[cfg(test)]
mod tests;

pub use params::{
    CoreParams, ListenSpec, DEFAULT_PKG_MB, DEFAULT_TCP_CONN_WQ_MAX, DEFAULT_TCP_WQ_MAX,
};
pub use script::{Outcome, RouteId, RouteKind, Script, ScriptVars};

/// A core or module parameter value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamValue {
    /// An integer (`yes`/`no`/`on`/`off`/`true`/`false` are 1/0).
    Int(i64),
    /// A string.
    Str(String),
}

/// A configuration error at a position in a file. Displays as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgError {
    /// The file (as given, or as found for included files).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (a tab counts as one column, like Kamailio).
    pub col: u32,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for CfgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.msg)
    }
}

impl std::error::Error for CfgError {}

/// A loaded configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Core parameters.
    pub core: CoreParams,
    /// The compiled routing script.
    pub script: Script,
    /// Things worth telling the operator, e.g. "memdbg has no effect in ferrosip".
    pub notices: Vec<String>,
    /// The file after preprocessing (defines substituted, `#!ifdef`s resolved, includes
    /// spliced, comments dropped), for `--cfg-print`.
    pub preprocessed: String,
    /// Loaded modules in `loadmodule` order, by name (`"sl"`, `"maxfwd"`).
    pub modules: Vec<String>,
    /// `modparam` settings in file order: (module, parameter, value).
    pub modparams: Vec<(String, String, ParamValue)>,
}

impl Config {
    /// Reads and compiles `path`; `defines` are the `-A NAME[=VALUE]` flags.
    pub fn load(path: &Path, defines: &[(String, Option<String>)]) -> Result<Self, CfgError> {
        let name = path.to_string_lossy().into_owned();
        let bytes = std::fs::read(path).map_err(|e| CfgError {
            file: name.clone(),
            line: 0,
            col: 0,
            msg: format!("cannot read configuration file: {e}"),
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Self::parse_str(&name, &text, defines)
    }

    /// Compiles configuration text. `file_name` is used in errors and to resolve
    /// `include_file` paths (relative to its directory first, then the current directory).
    pub fn parse_str(
        file_name: &str,
        text: &str,
        defines: &[(String, Option<String>)],
    ) -> Result<Self, CfgError> {
        Self::parse_inner(file_name, text, defines, false)
    }

    fn parse_inner(
        file_name: &str,
        text: &str,
        defines: &[(String, Option<String>)],
        permissive: bool,
    ) -> Result<Self, CfgError> {
        let lexed = lex::Lexer::new(defines).run(file_name, text)?;
        let preprocessed = lex::render(&lexed.tokens);
        let mut parser = parse::Parser::new(&lexed.tokens, &lexed.files);
        parser.permissive = permissive;
        let p = parser.parse()?;
        Ok(Self {
            core: p.core,
            script: p.script,
            notices: p.notices,
            preprocessed,
            modules: p.modules,
            modparams: p.modparams,
        })
    }

    /// The last value set for `modparam(module, name, ...)`.
    pub fn modparam(&self, module: &str, name: &str) -> Option<&ParamValue> {
        self.modparams
            .iter()
            .rev()
            .find(|(m, n, _)| m == module && n == name)
            .map(|(_, _, v)| v)
    }
}

/// Parses a `-A NAME[=VALUE]` flag into a define.
pub fn parse_define(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((n, v)) => (n.trim().to_string(), Some(v.to_string())),
        None => (arg.trim().to_string(), None),
    }
}
