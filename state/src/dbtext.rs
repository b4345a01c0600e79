//! Kamailio's `db_text` table format (read side), sans-IO: the text of one table file in,
//! typed columns and rows out.
//!
//! A `db_text` database is a directory; each table is one file in it. The file's first line
//! declares the columns, separated by white space, each `name(type[,flag...])`:
//! types `int`, `double`, `str`/`string`, `blob`, `datetime` (an integer Unix time, as
//! Kamailio writes it); flags `auto` (Kamailio fills an `int` column on insert) and `null`.
//! Every other line is one row: fields separated by `:` (`db_delim`), a field left empty
//! is NULL (unless [`DbTextOptions::emptystring`] turns empty string fields into `""`), and
//! inside a field `\:`, `\\`, `\n`, `\r`, `\t` and `\0` stand for the delimiter, a
//! backslash, newline, carriage return, tab and NUL. Empty lines are skipped, a line ending
//! in `\r\n` is read like one ending in `\n`.
//!
//! This module does no I/O: the caller reads the file (at start, off the workers) and hands
//! its text to [`Table::parse`]. Bad input is a [`DbTextError`] with the 1-based line and
//! column; nothing here panics.
//!
//! # Example
//! ```
//! use ferrosip_state::dbtext::{DbValue, Table};
//!
//! let text = "id(int,auto) username(string) ha1(string) note(str,null)\n\
//!             1:alice:0123abcd:a\\: friend\n\
//!             2:bob:4567ef01:\n";
//! let t = Table::parse(text)?;
//! let row = t.find("username", "alice").next().expect("alice is there");
//! assert_eq!(row.str("ha1"), Some("0123abcd"));
//! assert_eq!(row.str("note"), Some("a: friend"));
//! assert_eq!(row.int("id"), Some(1));
//! let bob = t.find("username", "bob").next().expect("bob is there");
//! assert_eq!(bob.get("note"), Some(&DbValue::Null));
//! # Ok::<(), ferrosip_state::dbtext::DbTextError>(())
//! ```

use std::fmt;

/// Most columns a table may declare (bounds hostile input).
pub const MAX_COLUMNS: usize = 256;

/// The type of a column, as declared in the table's first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    /// `int`: a signed 64-bit integer.
    Int,
    /// `double`: a floating-point number.
    Double,
    /// `str` or `string`: text.
    Str,
    /// `blob`: text (db_text stores blobs escaped like strings).
    Blob,
    /// `datetime`: an integer Unix time.
    DateTime,
}

impl ColType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "int" => Self::Int,
            "double" => Self::Double,
            "str" | "string" => Self::Str,
            "blob" => Self::Blob,
            "datetime" => Self::DateTime,
            _ => return None,
        })
    }

    /// Whether values of this type are text (`str`, `string`, `blob`).
    pub fn is_text(self) -> bool {
        matches!(self, Self::Str | Self::Blob)
    }
}

/// One declared column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// Its type.
    pub ty: ColType,
    /// The `auto` flag (an auto-increment `int` column).
    pub auto: bool,
    /// The `null` flag (the column accepts NULL; informational, NULLs are read anyway).
    pub null: bool,
}

/// One field of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum DbValue {
    /// An empty field.
    Null,
    /// An `int` or `datetime` field.
    Int(i64),
    /// A `double` field.
    Double(f64),
    /// A `str`, `string` or `blob` field, unescaped.
    Str(String),
}

impl DbValue {
    /// The text of a string field; `None` for NULL and numbers.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of an integer field, or of a string field holding a decimal integer;
    /// `None` otherwise.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Whether the field is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

/// Why a table's text could not be read, and where (1-based line and column, in bytes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {col}: {msg}")]
pub struct DbTextError {
    /// The line of the offending text.
    pub line: usize,
    /// The column (bytes from the line start, 1-based).
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

/// How to read a table (the `db_text` module parameters that matter to reading).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbTextOptions {
    /// `modparam("db_text", "emptystring", 1)`: an empty field of a text column is `""`
    /// instead of NULL. Default: off.
    pub emptystring: bool,
    /// `modparam("db_text", "db_delim", ..)`: the field delimiter. Default `:`.
    pub delim: u8,
}

impl Default for DbTextOptions {
    fn default() -> Self {
        Self {
            emptystring: false,
            delim: b':',
        }
    }
}

/// A parsed table: its columns and its rows, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Box<[DbValue]>>,
}

/// A view of one row of a [`Table`].
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    table: &'a Table,
    values: &'a [DbValue],
}

impl<'a> Row<'a> {
    /// The field of column `name`; `None` when the table has no such column.
    pub fn get(&self, name: &str) -> Option<&'a DbValue> {
        self.values.get(self.table.column(name)?)
    }

    /// The field at column index `i` (see [`Table::column`]).
    pub fn at(&self, i: usize) -> Option<&'a DbValue> {
        self.values.get(i)
    }

    /// The text of column `name`; `None` when it is NULL, not a text field, or missing.
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(DbValue::as_str)
    }

    /// The integer of column `name` (see [`DbValue::as_int`]).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(DbValue::as_int)
    }

    /// Every field, in column order.
    pub fn values(&self) -> &'a [DbValue] {
        self.values
    }
}

fn err(line: usize, col: usize, msg: impl Into<String>) -> DbTextError {
    DbTextError {
        line,
        col,
        msg: msg.into(),
    }
}

impl Table {
    /// Parses a table's text with the default options (`:` delimiter, empty is NULL).
    pub fn parse(text: &str) -> Result<Self, DbTextError> {
        Self::parse_with(text, DbTextOptions::default())
    }

    /// Parses a table's text.
    pub fn parse_with(text: &str, opts: DbTextOptions) -> Result<Self, DbTextError> {
        let mut lines = text.split('\n').enumerate().map(|(i, l)| {
            let l = l.strip_suffix('\r').unwrap_or(l);
            (i + 1, l)
        });
        let (hline, header) = loop {
            match lines.next() {
                Some((_, l)) if l.trim().is_empty() => continue,
                Some(x) => break x,
                None => return Err(err(1, 1, "empty table: no column definitions")),
            }
        };
        let columns = parse_header(hline, header)?;
        let mut rows = Vec::new();
        for (n, line) in lines {
            if line.is_empty() {
                continue;
            }
            rows.push(parse_row(n, line, &columns, opts)?);
        }
        Ok(Self { columns, rows })
    }

    /// The declared columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The index of column `name` (exact, case-sensitive match as in Kamailio's db_text).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> + '_ {
        self.rows.iter().map(move |v| Row {
            table: self,
            values: v,
        })
    }

    /// The rows whose column `name` equals `value` (a text field equal to it, or a number
    /// whose decimal form is it). Nothing when the column does not exist. A linear scan:
    /// callers that look up per request should index the rows once at start.
    pub fn find<'s>(&'s self, name: &str, value: &'s str) -> impl Iterator<Item = Row<'s>> + 's {
        let col = self.column(name);
        self.rows().filter(move |r| {
            col.and_then(|c| r.at(c)).is_some_and(|v| match v {
                DbValue::Str(s) => s == value,
                DbValue::Int(i) => value.trim().parse::<i64>() == Ok(*i),
                DbValue::Double(d) => value.trim().parse::<f64>() == Ok(*d),
                DbValue::Null => false,
            })
        })
    }
}

fn parse_header(line_no: usize, line: &str) -> Result<Vec<Column>, DbTextError> {
    let mut cols: Vec<Column> = Vec::new();
    let mut rest = line;
    let mut off = 0usize;
    loop {
        let trimmed = rest.trim_start();
        off += rest.len() - trimmed.len();
        rest = trimmed;
        if rest.is_empty() {
            break;
        }
        let col = off + 1;
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let def = &rest[..end];
        let Some((name, args)) = def.split_once('(') else {
            return Err(err(
                line_no,
                col,
                format!("column definition '{def}' needs name(type)"),
            ));
        };
        let Some(args) = args.strip_suffix(')') else {
            return Err(err(
                line_no,
                col,
                format!("column definition '{def}' is missing ')'"),
            ));
        };
        if name.is_empty() {
            return Err(err(line_no, col, "column definition without a name"));
        }
        let mut parts = args.split(',').map(str::trim);
        let ty_s = parts.next().unwrap_or("");
        let Some(ty) = ColType::parse(&ty_s.to_ascii_lowercase()) else {
            return Err(err(
                line_no,
                col,
                format!("column '{name}': unknown type '{ty_s}' (int, double, str, string, blob, datetime)"),
            ));
        };
        let (mut auto, mut null) = (false, false);
        for f in parts {
            match f.to_ascii_lowercase().as_str() {
                "auto" => auto = true,
                "null" => null = true,
                "" => {}
                _ => {
                    return Err(err(
                        line_no,
                        col,
                        format!("column '{name}': unknown flag '{f}' (auto, null)"),
                    ))
                }
            }
        }
        if auto && ty != ColType::Int {
            return Err(err(
                line_no,
                col,
                format!("column '{name}': 'auto' needs an int column"),
            ));
        }
        if cols.iter().any(|c| c.name == name) {
            return Err(err(
                line_no,
                col,
                format!("column '{name}' is declared twice"),
            ));
        }
        if cols.len() >= MAX_COLUMNS {
            return Err(err(
                line_no,
                col,
                format!("more than {MAX_COLUMNS} columns"),
            ));
        }
        cols.push(Column {
            name: name.to_string(),
            ty,
            auto,
            null,
        });
        off += end;
        rest = &rest[end..];
    }
    if cols.is_empty() {
        return Err(err(line_no, 1, "no column definitions"));
    }
    Ok(cols)
}

/// Splits a row into unescaped fields with their 1-based start columns.
fn split_fields(
    line_no: usize,
    line: &str,
    delim: u8,
) -> Result<Vec<(usize, String)>, DbTextError> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let Some(&e) = b.get(i + 1) else {
                return Err(err(line_no, i + 1, "backslash at the end of the line"));
            };
            cur.push(match e {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'0' => 0,
                b'\\' => b'\\',
                // `\:` (or the configured delimiter) and any other escaped byte: itself
                other => other,
            });
            i += 2;
        } else if c == delim {
            out.push((start + 1, bytes_to_string(std::mem::take(&mut cur))));
            i += 1;
            start = i;
        } else {
            cur.push(c);
            i += 1;
        }
    }
    out.push((start + 1, bytes_to_string(cur)));
    Ok(out)
}

fn bytes_to_string(v: Vec<u8>) -> String {
    // the input is a &str and escapes only produce ASCII, so this is valid UTF-8 except
    // where an escape split a multi-byte character (`\` before a non-ASCII byte)
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn parse_row(
    line_no: usize,
    line: &str,
    cols: &[Column],
    opts: DbTextOptions,
) -> Result<Box<[DbValue]>, DbTextError> {
    let fields = split_fields(line_no, line, opts.delim)?;
    if fields.len() != cols.len() {
        let col = match fields.get(cols.len()) {
            Some((c, _)) => *c,
            None => line.len() + 1,
        };
        return Err(err(
            line_no,
            col,
            format!(
                "row has {} fields, the table has {} columns",
                fields.len(),
                cols.len()
            ),
        ));
    }
    let mut row = Vec::with_capacity(cols.len());
    for ((col, f), c) in fields.into_iter().zip(cols) {
        let v = if f.is_empty() {
            if opts.emptystring && c.ty.is_text() {
                DbValue::Str(String::new())
            } else {
                DbValue::Null
            }
        } else {
            match c.ty {
                ColType::Int | ColType::DateTime => match f.trim().parse::<i64>() {
                    Ok(i) => DbValue::Int(i),
                    Err(_) => {
                        return Err(err(
                            line_no,
                            col,
                            format!("column '{}': '{f}' is not an integer", c.name),
                        ))
                    }
                },
                ColType::Double => match f.trim().parse::<f64>() {
                    Ok(d) => DbValue::Double(d),
                    Err(_) => {
                        return Err(err(
                            line_no,
                            col,
                            format!("column '{}': '{f}' is not a number", c.name),
                        ))
                    }
                },
                ColType::Str | ColType::Blob => DbValue::Str(f),
            }
        };
        row.push(v);
    }
    Ok(row.into_boxed_slice())
}

impl fmt::Display for ColType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Int => "int",
            Self::Double => "double",
            Self::Str => "str",
            Self::Blob => "blob",
            Self::DateTime => "datetime",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape `bench-anchor/gen_users.py` writes (note the space before the newline).
    const HTABLE: &str = "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int) \n\
        1:u000001:0:0:8d2c1b0f6a1e4bd1c0a1f0e9d8c7b6a5:0\n\
        2:u000002:0:0:0f1e2d3c4b5a69788796a5b4c3d2e1f0:0\n";

    #[test]
    fn gen_users_htable_shape() {
        let t = Table::parse(HTABLE).unwrap();
        assert_eq!(t.columns().len(), 6);
        assert_eq!(t.columns()[0].name, "id");
        assert!(t.columns()[0].auto);
        assert_eq!(t.columns()[1].ty, ColType::Str);
        assert_eq!(t.len(), 2);
        let r = t.find("key_name", "u000002").next().unwrap();
        assert_eq!(r.str("key_value"), Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
        assert_eq!(r.int("key_type"), Some(0));
        assert_eq!(r.int("expires"), Some(0));
        assert_eq!(r.int("id"), Some(2));
        assert!(t.find("key_name", "nobody").next().is_none());
        assert!(t.find("no_such_column", "u000002").next().is_none());
        assert_eq!(t.find("id", "1").count(), 1);
    }

    #[test]
    fn gen_users_subscriber_shape() {
        let text = "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) \n\
                    1:u000001:127.0.0.1:pw000001:aaaa:bbbb\n";
        let t = Table::parse(text).unwrap();
        let r = t.find("username", "u000001").next().unwrap();
        assert_eq!(r.str("domain"), Some("127.0.0.1"));
        assert_eq!(r.str("password"), Some("pw000001"));
        assert_eq!(r.str("ha1b"), Some("bbbb"));
    }

    #[test]
    fn escapes_and_nulls() {
        let text = "id(int,auto) name(str) flag(double) desc(str,null)\r\n\
                    1:nick:0.34:a\\tgood\\: friend\r\n\
                    2:cole:-3.75:back\\\\slash\\nnew\\rcr\\0nul\n\
                    \n\
                    3:bob:2.50:\n";
        let t = Table::parse(text).unwrap();
        let rows: Vec<_> = t.rows().collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].str("desc"), Some("a\tgood: friend"));
        assert_eq!(rows[0].get("flag"), Some(&DbValue::Double(0.34)));
        assert_eq!(rows[1].str("desc"), Some("back\\slash\nnew\rcr\0nul"));
        assert!(rows[2].get("desc").unwrap().is_null());
        assert_eq!(rows[2].str("desc"), None);
        let t = Table::parse_with(
            text,
            DbTextOptions {
                emptystring: true,
                ..DbTextOptions::default()
            },
        )
        .unwrap();
        assert_eq!(t.rows().nth(2).unwrap().str("desc"), Some(""));
        // an empty int field stays NULL even with emptystring
        let t = Table::parse_with(
            "a(int,null) b(str)\n:x\n",
            DbTextOptions {
                emptystring: true,
                ..DbTextOptions::default()
            },
        )
        .unwrap();
        assert!(t.rows().next().unwrap().get("a").unwrap().is_null());
    }

    #[test]
    fn other_delimiter() {
        let t = Table::parse_with(
            "a(str) b(int)\nx:y|7\n",
            DbTextOptions {
                delim: b'|',
                ..DbTextOptions::default()
            },
        )
        .unwrap();
        let r = t.rows().next().unwrap();
        assert_eq!(r.str("a"), Some("x:y"));
        assert_eq!(r.int("b"), Some(7));
    }

    #[test]
    fn errors_have_positions() {
        let e = Table::parse("a(int) b(str)\n1:x\nzz:y\n").unwrap_err();
        assert_eq!((e.line, e.col), (3, 1));
        assert!(e.msg.contains("not an integer"), "{e}");
        let e = Table::parse("a(int) b(str)\n1:x:extra\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 5));
        assert!(e.msg.contains("3 fields"), "{e}");
        let e = Table::parse("a(int) b(str)\n1\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 2));
        let e = Table::parse("a(int) b(text)\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 8));
        assert!(e.msg.contains("unknown type"), "{e}");
        let e = Table::parse("a(int) b(str,weird)\n").unwrap_err();
        assert!(e.msg.contains("unknown flag"), "{e}");
        let e = Table::parse("a(int b(str)\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        let e = Table::parse("a(int) a(str)\n").unwrap_err();
        assert!(e.msg.contains("twice"), "{e}");
        let e = Table::parse("\n\n").unwrap_err();
        assert!(e.msg.contains("empty table"), "{e}");
        let e = Table::parse("a(str)\nx\\").unwrap_err();
        assert_eq!((e.line, e.col), (2, 2));
        let e = Table::parse("a(double)\nnope\n").unwrap_err();
        assert!(e.msg.contains("not a number"), "{e}");
        assert_eq!(
            e.to_string(),
            "line 2, column 1: column 'a': 'nope' is not a number"
        );
    }

    #[test]
    fn never_panics_on_junk() {
        for s in [
            "",
            "(",
            ")",
            "a()",
            "a(int)\n\\",
            "a(str)\n\u{e9}\\\u{e9}:",
            "a(str) b(str)\n:::::",
            "\u{1F600}(str)\n\u{1F600}",
        ] {
            let _ = Table::parse(s);
        }
        let t = Table::parse("a(str)\n\\\u{e9}x\n").unwrap();
        assert_eq!(t.rows().next().unwrap().str("a"), Some("\u{e9}x"));
    }
}
