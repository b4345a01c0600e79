//! Preprocessor and lexer in one pass, the way Kamailio's `cfg.lex` does it: `#!define`
//! names are replaced where they appear as identifier tokens (never inside strings, except
//! through `#!subst`/`#!substdef` rules, which rewrite string literals), `#!ifdef` blocks are
//! skipped line by line, and `include_file`/`import_file` splice another file's tokens in.
//! Every token keeps the position it has in its own file (tokens that come from a define
//! carry the position of the name that was replaced).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use super::CfgError;
use crate::names::Value;

/// Deepest `include_file` nesting (Kamailio: `MAX_INCLUDE_DEPTH` 10).
const MAX_INCLUDE_DEPTH: u32 = 10;
/// Deepest define-inside-define expansion before we call it a loop.
const MAX_DEFINE_DEPTH: u32 = 32;

/// A position: index into the file table, 1-based line and column (a tab counts as one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) file: u16,
    pub(crate) line: u32,
    pub(crate) col: u32,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*` (keywords included).
    Ident(String),
    /// Decimal, hex (`0x`), octal (`0...`) or binary (`...b`) number.
    Int(i64),
    /// A string literal (escapes processed, adjacent `"..."` joined, subst rules applied).
    Str(String),
    /// A pseudo-variable, the raw text with its `$`.
    Pv(String),
    /// A dotted IPv4 literal.
    Ip(String),
    /// Digits followed by letters (`1e3`, `0db8`); only meaningful glued into values.
    NumId(String),
    /// Punctuation and operators.
    Punct(&'static str),
}

/// One token with its position and the whitespace before it.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
    /// A line break came between the previous token and this one.
    pub(crate) nl_before: bool,
    /// Whitespace (or a comment) came between the previous token and this one.
    pub(crate) space_before: bool,
    /// The text as written (for gluing parameter values such as `udp:1.2.3.4:5060`).
    pub(crate) text: String,
}

/// The preprocessor output.
pub(crate) struct Lexed {
    pub(crate) tokens: Vec<Token>,
    pub(crate) files: Vec<String>,
}

const PUNCTS: [&str; 37] = [
    "==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "<<", ">>", "+=", ":=", "=", "<", ">", "!",
    "+", "-", "*", "/", "%", "&", "|", "^", "~", "(", ")", "{", "}", "[", "]", ",", ";", ":", ".",
    "@", "?",
];

struct Cond {
    /// This branch is being taken.
    taking: bool,
    /// The enclosing code is active.
    parent: bool,
    else_seen: bool,
    span: Span,
}

struct Subst {
    re: Regex,
    repl: String,
    global: bool,
}

/// The preprocessor/lexer state over all files.
pub(crate) struct Lexer {
    files: Vec<String>,
    defines: HashMap<String, Option<String>>,
    substs: Vec<Subst>,
    out: Vec<Token>,
    conds: Vec<Cond>,
    pending_nl: bool,
    pending_space: bool,
}

/// A character cursor over one text, tracking line and column.
struct Cur<'t> {
    s: &'t str,
    pos: usize,
    line: u32,
    col: u32,
    file: u16,
    /// When lexing a define's value: every token gets this position.
    fixed: Option<Span>,
}

impl Cur<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.s[self.pos..].chars().nth(n)
    }
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn span(&self) -> Span {
        self.fixed.unwrap_or(Span {
            file: self.file,
            line: self.line,
            col: self.col,
        })
    }
    fn starts_with(&self, p: &str) -> bool {
        self.rest().starts_with(p)
    }
    fn skip_to_eol(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }
    /// The rest of the current line (without the line break), consumed.
    fn take_line(&mut self) -> String {
        let start = self.pos;
        self.skip_to_eol();
        let l = self.s[start..self.pos].to_string();
        self.bump();
        l
    }
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\u{8}')) {
            self.bump();
        }
    }
    fn take_ident(&mut self) -> String {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.bump();
        }
        self.s[start..self.pos].to_string()
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

impl Lexer {
    /// A lexer with the `-A` defines already set.
    pub(crate) fn new(defines: &[(String, Option<String>)]) -> Self {
        let mut map = HashMap::new();
        // predefined, like Kamailio's KAMAILIO_X[_Y]: the dialect ferrosip speaks
        for k in ["KAMAILIO_5", "KAMAILIO_5_6", "FERROSIP"] {
            map.insert(k.to_string(), None);
        }
        for (k, v) in defines {
            map.insert(k.clone(), v.clone());
        }
        Self {
            files: Vec::new(),
            defines: map,
            substs: Vec::new(),
            out: Vec::new(),
            conds: Vec::new(),
            pending_nl: true,
            pending_space: false,
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

    fn add_file(&mut self, name: &str, at: Span) -> Result<u16, CfgError> {
        if self.files.len() >= u16::MAX as usize {
            return Err(self.err(at, "too many included files"));
        }
        self.files.push(name.to_string());
        Ok((self.files.len() - 1) as u16)
    }

    /// Preprocesses and lexes the main file.
    pub(crate) fn run(mut self, file_name: &str, text: &str) -> Result<Lexed, CfgError> {
        let f = self.add_file(file_name, Span::default())?;
        self.lex_file(f, text, 0)?;
        if let Some(c) = self.conds.last() {
            return Err(self.err(c.span, "#!ifdef/#!ifndef without matching #!endif"));
        }
        Ok(Lexed {
            tokens: self.out,
            files: self.files,
        })
    }

    fn active(&self) -> bool {
        match self.conds.last() {
            None => true,
            Some(c) => c.taking && c.parent,
        }
    }

    fn push(&mut self, tok: Tok, span: Span, text: String) {
        self.out.push(Token {
            tok,
            span,
            nl_before: self.pending_nl,
            space_before: self.pending_space || self.pending_nl,
            text,
        });
        self.pending_nl = false;
        self.pending_space = false;
    }

    fn lex_file(&mut self, file: u16, text: &str, depth: u32) -> Result<(), CfgError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut cur = Cur {
            s: text,
            pos: 0,
            line: 1,
            col: 1,
            file,
            fixed: None,
        };
        let cond_depth = self.conds.len();
        self.pending_nl = true;
        self.lex(&mut cur, depth, 0)?;
        if self.conds.len() > cond_depth {
            // an #!ifdef left open at the end of an included file
            let c = &self.conds[self.conds.len() - 1];
            return Err(self.err(c.span, "#!ifdef/#!ifndef without matching #!endif"));
        }
        self.pending_nl = true;
        Ok(())
    }

    /// Lexes until the end of `cur`. `def_depth > 0` while lexing a define's value.
    fn lex(&mut self, cur: &mut Cur<'_>, depth: u32, def_depth: u32) -> Result<(), CfgError> {
        loop {
            if !self.active() {
                // Skipped region: only the #!if*/#!else/#!endif lines count.
                if cur.peek().is_none() {
                    return Ok(());
                }
                cur.skip_blanks();
                let span = cur.span();
                if cur.starts_with("#!") || cur.starts_with("!!") {
                    let save = (cur.pos, cur.line, cur.col);
                    cur.bump();
                    cur.bump();
                    let word = cur.take_ident();
                    match word.as_str() {
                        "ifdef" | "ifndef" | "ifexp" | "else" | "endif" => {
                            self.directive(cur, &word, span, depth)?;
                            continue;
                        }
                        _ => {
                            (cur.pos, cur.line, cur.col) = save;
                        }
                    }
                }
                cur.take_line();
                continue;
            }
            let Some(c) = cur.peek() else { return Ok(()) };
            let span = cur.span();
            match c {
                '\n' => {
                    cur.bump();
                    self.pending_nl = true;
                }
                ' ' | '\t' | '\r' | '\u{8}' | '\u{c}' => {
                    cur.bump();
                    self.pending_space = true;
                }
                '\\' if cur.peek_at(1) == Some('\n') => {
                    cur.bump();
                    cur.bump();
                    self.pending_space = true;
                }
                '#' | '!' if cur.peek_at(1) == Some('!') => {
                    let save = (cur.pos, cur.line, cur.col);
                    cur.bump();
                    cur.bump();
                    let word = cur.take_ident();
                    if is_directive(&word) && def_depth == 0 {
                        self.directive(cur, &word, span, depth)?;
                    } else if c == '#' {
                        // `#!KAMAILIO`, `#!SER` and unknown `#!...`: a comment line
                        cur.skip_to_eol();
                        self.pending_space = true;
                    } else {
                        (cur.pos, cur.line, cur.col) = save;
                        cur.bump();
                        self.push(Tok::Punct("!"), span, "!".into());
                    }
                }
                '#' => {
                    cur.skip_to_eol();
                    self.pending_space = true;
                }
                '/' if cur.peek_at(1) == Some('/') => {
                    cur.skip_to_eol();
                    self.pending_space = true;
                }
                '/' if cur.peek_at(1) == Some('*') => {
                    self.block_comment(cur, span)?;
                    self.pending_space = true;
                }
                '"' | '\'' => {
                    let (s, text) = self.string(cur, span)?;
                    let s = self.apply_substs(&s);
                    self.define_loaded_module(&s);
                    self.push(Tok::Str(s), span, text);
                }
                '$' => {
                    let pv = self.pv(cur, span)?;
                    let pv = self.apply_substs(&pv);
                    self.push(Tok::Pv(pv.clone()), span, pv);
                }
                c if c.is_ascii_digit() => self.number(cur, span),
                c if is_ident_start(c) => {
                    let id = cur.take_ident();
                    if def_depth == 0 && (id == "include_file" || id == "import_file") {
                        self.include(cur, id == "import_file", span, depth)?;
                    } else if let Some(val) = self.defines.get(&id).cloned() {
                        if def_depth >= MAX_DEFINE_DEPTH {
                            return Err(
                                self.err(span, format!("define '{id}' expands recursively"))
                            );
                        }
                        if let Some(val) = val {
                            let mut sub = Cur {
                                s: &val,
                                pos: 0,
                                line: span.line,
                                col: span.col,
                                file: span.file,
                                fixed: Some(span),
                            };
                            self.lex(&mut sub, depth, def_depth + 1)?;
                        }
                    } else {
                        self.push(Tok::Ident(id.clone()), span, id);
                    }
                }
                _ => {
                    let Some(p) = PUNCTS.iter().find(|p| cur.starts_with(p)) else {
                        return Err(
                            self.err(span, format!("unexpected character '{}'", c.escape_debug()))
                        );
                    };
                    for _ in 0..p.len() {
                        cur.bump();
                    }
                    self.push(Tok::Punct(p), span, (*p).to_string());
                }
            }
        }
    }

    /// `loadmodule "x.so"` defines `MOD_x`, like Kamailio, so `#!ifdef MOD_x` works after it.
    fn define_loaded_module(&mut self, arg: &str) {
        let n = self.out.len();
        let is_lm = |t: Option<&Token>| matches!(t, Some(Token { tok: Tok::Ident(w), .. }) if w == "loadmodule" || w == "loadmodulex");
        let after_lm = is_lm(n.checked_sub(1).and_then(|i| self.out.get(i)))
            || (matches!(
                self.out.last(),
                Some(Token {
                    tok: Tok::Punct("="),
                    ..
                })
            ) && is_lm(n.checked_sub(2).and_then(|i| self.out.get(i))));
        if after_lm {
            let name = super::modules::module_name(arg);
            self.defines.entry(format!("MOD_{name}")).or_insert(None);
        }
    }

    fn block_comment(&mut self, cur: &mut Cur<'_>, span: Span) -> Result<(), CfgError> {
        let mut nest = 0u32;
        loop {
            if cur.starts_with("/*") {
                cur.bump();
                cur.bump();
                nest += 1;
            } else if cur.starts_with("*/") {
                cur.bump();
                cur.bump();
                nest -= 1;
                if nest == 0 {
                    return Ok(());
                }
            } else if let Some(c) = cur.bump() {
                if c == '\n' {
                    self.pending_nl = true;
                }
            } else {
                return Err(self.err(span, "unterminated /* comment"));
            }
        }
    }

    /// A string literal; `"..."` strings separated only by whitespace are joined.
    fn string(&mut self, cur: &mut Cur<'_>, span: Span) -> Result<(String, String), CfgError> {
        let start = cur.pos;
        let mut out = String::new();
        if cur.peek() == Some('\'') {
            cur.bump();
            loop {
                match cur.bump() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err(self.err(span, "unterminated string")),
                }
            }
            return Ok((out, cur.s[start..cur.pos].to_string()));
        }
        loop {
            cur.bump(); // the opening quote
            loop {
                match cur.bump() {
                    Some('"') => break,
                    Some('\\') => match cur.peek() {
                        Some('n') => {
                            cur.bump();
                            out.push('\n');
                        }
                        Some('r') => {
                            cur.bump();
                            out.push('\r');
                        }
                        Some('t') => {
                            cur.bump();
                            out.push('\t');
                        }
                        Some('a') => {
                            cur.bump();
                            out.push('\u{7}');
                        }
                        Some('"') => {
                            cur.bump();
                            out.push('"');
                        }
                        Some('\\') => {
                            cur.bump();
                            out.push('\\');
                        }
                        Some('\n') => {
                            cur.bump();
                        }
                        Some('x') if cur.peek_at(1).is_some_and(|c| c.is_ascii_hexdigit()) => {
                            cur.bump();
                            let mut v = 0u32;
                            for _ in 0..2 {
                                match cur.peek().and_then(|c| c.to_digit(16)) {
                                    Some(d) => {
                                        v = v * 16 + d;
                                        cur.bump();
                                    }
                                    None => break,
                                }
                            }
                            out.push(char::from_u32(v).unwrap_or('?'));
                        }
                        Some(c)
                            if c.is_digit(8) && cur.peek_at(1).is_some_and(|c| c.is_digit(8)) =>
                        {
                            let mut v = 0u32;
                            for _ in 0..3 {
                                match cur.peek().and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        v = v * 8 + d;
                                        cur.bump();
                                    }
                                    None => break,
                                }
                            }
                            out.push(char::from_u32(v & 0xff).unwrap_or('?'));
                        }
                        // any other escape keeps its backslash (regexes such as "\.")
                        _ => out.push('\\'),
                    },
                    Some(c) => out.push(c),
                    None => return Err(self.err(span, "unterminated string")),
                }
            }
            // STR_BETWEEN: whitespace then another "..." continues the same string
            let save = (cur.pos, cur.line, cur.col);
            while let Some(' ' | '\t' | '\r' | '\n') = cur.peek() {
                cur.bump();
            }
            if cur.peek() == Some('"') {
                continue;
            }
            (cur.pos, cur.line, cur.col) = save;
            return Ok((out, cur.s[start..cur.pos].to_string()));
        }
    }

    fn pv(&self, cur: &mut Cur<'_>, span: Span) -> Result<String, CfgError> {
        let start = cur.pos;
        cur.bump(); // $
        match cur.peek() {
            Some('(') => self.parens(cur, span)?,
            Some('?') => {
                cur.bump();
            }
            Some(c) if is_ident_start(c) => {
                cur.take_ident();
                if cur.peek() == Some('(') {
                    self.parens(cur, span)?;
                }
            }
            _ => return Err(self.err(span, "expected a pseudo-variable name after '$'")),
        }
        Ok(cur.s[start..cur.pos].to_string())
    }

    fn parens(&self, cur: &mut Cur<'_>, span: Span) -> Result<(), CfgError> {
        let mut nest = 0u32;
        loop {
            match cur.bump() {
                Some('(') => nest += 1,
                Some(')') => {
                    nest -= 1;
                    if nest == 0 {
                        return Ok(());
                    }
                }
                Some('\n') | None => {
                    return Err(self.err(span, "unterminated pseudo-variable: missing ')'"))
                }
                Some(_) => {}
            }
        }
    }

    fn number(&mut self, cur: &mut Cur<'_>, span: Span) {
        let start = cur.pos;
        if cur.starts_with("0x") || cur.starts_with("0X") {
            let save = (cur.pos, cur.line, cur.col);
            cur.bump();
            cur.bump();
            let ds = cur.pos;
            while cur.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                cur.bump();
            }
            let after_ok = !cur
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if cur.pos > ds && after_ok {
                let text = cur.s[start..cur.pos].to_string();
                let v = i64::from_str_radix(&cur.s[ds..cur.pos], 16).unwrap_or(i64::MAX);
                self.push(Tok::Int(v), span, text);
                return;
            }
            (cur.pos, cur.line, cur.col) = save;
        }
        while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
            cur.bump();
        }
        // dotted IPv4 (or a longer dotted number run, kept as text)
        if cur.peek() == Some('.') && cur.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            while cur.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                if cur.peek() == Some('.') && !cur.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                    break;
                }
                cur.bump();
            }
            let text = cur.s[start..cur.pos].to_string();
            self.push(Tok::Ip(text.clone()), span, text);
            return;
        }
        let digits_end = cur.pos;
        if cur
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            while cur
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                cur.bump();
            }
            let text = cur.s[start..cur.pos].to_string();
            // binary: [01]+b
            if cur.pos == digits_end + 1
                && text.ends_with('b')
                && text[..text.len() - 1]
                    .bytes()
                    .all(|b| b == b'0' || b == b'1')
            {
                let v = i64::from_str_radix(&text[..text.len() - 1], 2).unwrap_or(i64::MAX);
                self.push(Tok::Int(v), span, text);
            } else {
                self.push(Tok::NumId(text.clone()), span, text);
            }
            return;
        }
        let text = &cur.s[start..cur.pos];
        let v = if text.len() > 1 && text.starts_with('0') && text.bytes().all(|b| b < b'8') {
            i64::from_str_radix(&text[1..], 8).unwrap_or(i64::MAX)
        } else {
            text.parse::<i64>().unwrap_or(i64::MAX)
        };
        let text = text.to_string();
        self.push(Tok::Int(v), span, text);
    }

    fn apply_substs(&self, s: &str) -> String {
        let mut s = s.to_string();
        for sub in &self.substs {
            let r = if sub.global {
                sub.re.replace_all(&s, sub.repl.as_str())
            } else {
                sub.re.replace(&s, sub.repl.as_str())
            };
            if let std::borrow::Cow::Owned(n) = r {
                s = n;
            }
        }
        s
    }

    /// Evaluates a `#!ifexp`/`#!defexp` expression: lexed here (defines apply), parsed and
    /// evaluated like a script expression over constants.
    fn eval_expr(
        &mut self,
        text: &str,
        span: Span,
        depth: u32,
    ) -> Result<Value<'static>, CfgError> {
        let start = self.out.len();
        let (nl, sp) = (self.pending_nl, self.pending_space);
        let mut sub = Cur {
            s: text,
            pos: 0,
            line: span.line,
            col: span.col,
            file: span.file,
            fixed: Some(span),
        };
        let r = self.lex(&mut sub, depth, 1);
        let toks = self.out.split_off(start);
        (self.pending_nl, self.pending_space) = (nl, sp);
        r?;
        super::parse::eval_const_expr(&toks, &self.files, span)
    }

    fn directive(
        &mut self,
        cur: &mut Cur<'_>,
        word: &str,
        span: Span,
        depth: u32,
    ) -> Result<(), CfgError> {
        match word {
            "define" | "def" | "trydef" | "trydefine" | "redefine" | "redef" => {
                cur.skip_blanks();
                let nspan = cur.span();
                let name = cur.take_ident();
                if name.is_empty() {
                    return Err(self.err(nspan, format!("#!{word} needs a name")));
                }
                if cur.peek() == Some('-') {
                    return Err(self.err(nspan, "'-' not allowed in a define name"));
                }
                // value: to end of line, `\` continues it
                let val = take_continued_line(cur);
                let val = val.trim();
                let val = (!val.is_empty()).then(|| val.to_string());
                let exists = self.defines.contains_key(&name);
                match word {
                    "define" | "def" if exists => {
                        return Err(self.err(nspan, format!("'{name}' is already defined")));
                    }
                    "trydef" | "trydefine" if exists => {}
                    _ => {
                        self.defines.insert(name, val);
                    }
                }
                self.pending_nl = true;
            }
            "defenv" | "defenvs" | "trydefenv" | "trydefenvs" => {
                // `#!defenv ID` (value of env var ID) or `#!defenv ID=VAR`
                cur.skip_blanks();
                let nspan = cur.span();
                let name = cur.take_ident();
                if name.is_empty() {
                    return Err(self.err(nspan, format!("#!{word} needs a name")));
                }
                let var = if cur.peek() == Some('=') {
                    cur.bump();
                    cur.take_line().trim().to_string()
                } else {
                    cur.take_line();
                    name.clone()
                };
                self.pending_nl = true;
                match std::env::var(&var) {
                    Ok(v) => {
                        let v = if word.ends_with('s') { quote(&v) } else { v };
                        if !word.starts_with("try") || !self.defines.contains_key(&name) {
                            self.defines.insert(name, Some(v));
                        }
                    }
                    Err(_) if word.starts_with("try") => {}
                    Err(_) => {
                        return Err(
                            self.err(nspan, format!("environment variable {var} is not set"))
                        )
                    }
                }
            }
            "defexp" | "defexps" => {
                cur.skip_blanks();
                let nspan = cur.span();
                let name = cur.take_ident();
                if name.is_empty() {
                    return Err(self.err(nspan, format!("#!{word} needs a name")));
                }
                cur.skip_blanks();
                let espan = cur.span();
                let text = take_continued_line(cur);
                self.pending_nl = true;
                let v = self.eval_expr(&text, espan, depth)?;
                let v = match v {
                    Value::Null => None,
                    Value::Int(i) => Some(i.to_string()),
                    Value::Str(s) if word == "defexps" => Some(quote(&s)),
                    Value::Str(s) => Some(s.into_owned()),
                };
                self.defines.insert(name, v);
            }
            "ifexp" => {
                cur.skip_blanks();
                let espan = cur.span();
                let text = take_continued_line(cur);
                self.pending_nl = true;
                let parent = self.active();
                let taking = if parent {
                    let v = self.eval_expr(&text, espan, depth)?;
                    super::script::truthy(&v)
                } else {
                    false
                };
                self.conds.push(Cond {
                    taking,
                    parent,
                    else_seen: false,
                    span,
                });
            }
            "undef" => {
                cur.skip_blanks();
                let name = cur.take_ident();
                self.defines.remove(&name);
                cur.take_line();
                self.pending_nl = true;
            }
            "ifdef" | "ifndef" => {
                cur.skip_blanks();
                let nspan = cur.span();
                let name = cur.take_ident();
                if name.is_empty() {
                    return Err(self.err(nspan, format!("#!{word} needs a name")));
                }
                let defined = self.defines.contains_key(&name);
                let parent = self.active();
                self.conds.push(Cond {
                    taking: defined == (word == "ifdef"),
                    parent,
                    else_seen: false,
                    span,
                });
                cur.take_line();
                self.pending_nl = true;
            }
            "else" => {
                let Some(c) = self.conds.last_mut() else {
                    return Err(self.err(span, "#!else without #!ifdef"));
                };
                if c.else_seen {
                    return Err(self.err(span, "second #!else in one #!ifdef"));
                }
                c.else_seen = true;
                c.taking = !c.taking;
                cur.take_line();
                self.pending_nl = true;
            }
            "endif" => {
                if self.conds.pop().is_none() {
                    return Err(self.err(span, "#!endif without #!ifdef"));
                }
                cur.take_line();
                self.pending_nl = true;
            }
            "subst" | "substdef" | "substdefs" => {
                cur.skip_blanks();
                let sspan = cur.span();
                if !matches!(cur.peek(), Some('"' | '\'')) {
                    return Err(self.err(
                        sspan,
                        format!("#!{word} needs a quoted \"/match/replace/\""),
                    ));
                }
                let (rule, _) = self.string(cur, sspan)?;
                self.subst(&rule, word, sspan)?;
                cur.take_line();
                self.pending_nl = true;
            }
            "include_file" | "import_file" => {
                self.include(cur, word == "import_file", span, depth)?;
            }
            _ => {
                cur.take_line();
            }
        }
        Ok(())
    }

    fn subst(&mut self, rule: &str, word: &str, span: Span) -> Result<(), CfgError> {
        let mut chars = rule.chars();
        let Some(sep) = chars.next() else {
            return Err(self.err(span, "empty subst rule"));
        };
        let body: String = chars.collect();
        // split on unescaped separators
        let mut parts = vec![String::new()];
        let mut it = body.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\\' && it.peek() == Some(&sep) {
                if let Some(p) = parts.last_mut() {
                    p.push(sep);
                }
                it.next();
            } else if c == sep {
                parts.push(String::new());
            } else {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
        if parts.len() != 3 {
            return Err(self.err(
                span,
                format!("bad subst rule '{rule}': expected {sep}match{sep}replace{sep}flags"),
            ));
        }
        let (pat, repl, flags) = (&parts[0], &parts[1], &parts[2]);
        let icase = flags.contains('i');
        let re = regex::RegexBuilder::new(pat)
            .case_insensitive(icase)
            .build()
            .map_err(|e| self.err(span, format!("bad subst pattern '{pat}': {e}")))?;
        // \N back-references become ${N}
        let mut r = String::new();
        let mut it = repl.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\\' if it.peek().is_some_and(|d| d.is_ascii_digit()) => {
                    r.push_str("${");
                    r.push(it.next().unwrap_or('0'));
                    r.push('}');
                }
                '$' => r.push_str("$$"),
                _ => r.push(c),
            }
        }
        if word != "subst" {
            let val = if word == "substdefs" {
                format!("\"{repl}\"")
            } else {
                repl.clone()
            };
            self.defines
                .insert(pat.clone(), (!val.is_empty()).then_some(val));
        }
        self.substs.push(Subst {
            re,
            repl: r,
            global: flags.contains('g'),
        });
        Ok(())
    }

    fn include(
        &mut self,
        cur: &mut Cur<'_>,
        import: bool,
        span: Span,
        depth: u32,
    ) -> Result<(), CfgError> {
        cur.skip_blanks();
        let mut name = String::new();
        while let Some(c) = cur.peek() {
            if c.is_whitespace() {
                break;
            }
            name.push(c);
            cur.bump();
        }
        let name = name.trim_matches(|c| c == '"' || c == '\'');
        let name = self.apply_substs(name);
        if name.is_empty() {
            return Err(self.err(span, "include_file needs a file name"));
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(self.err(span, format!("include_file '{name}': nested too deep")));
        }
        let here = self
            .files
            .get(span.file as usize)
            .cloned()
            .unwrap_or_default();
        let mut candidates: Vec<PathBuf> = Vec::new();
        let p = Path::new(&name);
        if p.is_absolute() {
            candidates.push(p.to_path_buf());
        } else {
            if let Some(dir) = Path::new(&here).parent() {
                candidates.push(dir.join(p));
            }
            candidates.push(p.to_path_buf());
        }
        let found = candidates
            .iter()
            .find_map(|c| std::fs::read(c).ok().map(|b| (c.clone(), b)));
        let Some((path, bytes)) = found else {
            if import {
                return Ok(());
            }
            return Err(self.err(span, format!("cannot open included file '{name}'")));
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let f = self.add_file(&path.to_string_lossy(), span)?;
        let sp = self.pending_space;
        self.lex_file(f, &text, depth + 1)?;
        // whatever follows the included text starts a new line
        self.pending_nl = true;
        self.pending_space = sp;
        Ok(())
    }
}

fn is_directive(w: &str) -> bool {
    matches!(
        w,
        "define"
            | "def"
            | "trydef"
            | "trydefine"
            | "redefine"
            | "redef"
            | "undef"
            | "ifdef"
            | "ifndef"
            | "else"
            | "endif"
            | "subst"
            | "substdef"
            | "substdefs"
            | "include_file"
            | "import_file"
            | "defenv"
            | "defenvs"
            | "trydefenv"
            | "trydefenvs"
            | "defexp"
            | "defexps"
            | "ifexp"
    )
}

/// The rest of the line, `\` continuing it onto the next.
fn take_continued_line(cur: &mut Cur<'_>) -> String {
    let mut val = String::new();
    loop {
        let line = cur.take_line();
        if let Some(l) = line.strip_suffix('\\') {
            val.push_str(l);
            continue;
        }
        val.push_str(line.strip_suffix('\r').unwrap_or(&line));
        return val;
    }
}

/// `s` as a double-quoted string literal.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Renders tokens back to text (for `--cfg-print`).
pub(crate) fn render(tokens: &[Token]) -> String {
    let mut s = String::new();
    for t in tokens {
        if t.nl_before && !s.is_empty() {
            s.push('\n');
        } else if t.space_before && !s.is_empty() {
            s.push(' ');
        }
        match &t.tok {
            Tok::Str(v) => s.push_str(&quote(v)),
            _ => s.push_str(&t.text),
        }
    }
    s.push('\n');
    s
}
