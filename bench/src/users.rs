//! Users for the `register` scenario (and the `uas` registrar): a template range
//! (`--users user%d@domain 1-10000`, `--password pass%d`) or a SIPp injection CSV
//! (first line `SEQUENTIAL`/`RANDOM`/`USER`, then `user;domain;password`).

use std::fmt;

/// The most users held in memory (a CSV larger than this is cut, with a warning).
pub const MAX_USERS: usize = 1_000_000;

/// Where the users come from.
#[derive(Clone, Debug)]
pub enum Users {
    /// `user%d@domain` over `first..=last`, password template (`%d` replaced too).
    Range {
        /// User template before `@`, with `%d`.
        user: String,
        /// Domain (after `@`).
        domain: String,
        /// First number.
        first: u64,
        /// Last number.
        last: u64,
        /// Password template (`%d` replaced by the number).
        password: String,
    },
    /// Explicit list (from a CSV).
    List(Vec<User>),
}

/// One user's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// User part of the AOR and digest username.
    pub user: String,
    /// Domain of the AOR (and the digest realm we expect).
    pub domain: String,
    /// Digest password.
    pub password: String,
}

/// A users argument that could not be read.
#[derive(Debug)]
pub struct UsersError(pub String);

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Replaces the first `%d` or `%0Nd` (zero-padded to N digits, as printf) in `tpl` by `n`.
pub fn fill(tpl: &str, n: u64) -> String {
    let Some(i) = tpl.find('%') else {
        return tpl.to_string();
    };
    let rest = &tpl[i + 1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if rest.as_bytes().get(digits) != Some(&b'd') {
        return tpl.to_string();
    }
    let width: usize = rest[..digits].parse().unwrap_or(0).min(20);
    let num = if rest.starts_with('0') {
        format!("{n:0width$}")
    } else {
        format!("{n:width$}")
    };
    format!("{}{}{}", &tpl[..i], num, &rest[digits + 1..])
}

/// The `%d`/`%0Nd` part of a template: (prefix, suffix, width).
fn split_template(tpl: &str) -> (&str, &str, usize) {
    let Some(i) = tpl.find('%') else {
        return (tpl, "", 0);
    };
    let rest = &tpl[i + 1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if rest.as_bytes().get(digits) != Some(&b'd') {
        return (tpl, "", 0);
    }
    let width = rest[..digits].parse().unwrap_or(0);
    (&tpl[..i], &rest[digits + 1..], width)
}

impl Users {
    /// From `--users TEMPLATE RANGE` (`user%d@domain`, `1-10000`) and a password template.
    pub fn from_template(tpl: &str, range: &str, password: &str) -> Result<Self, UsersError> {
        let (user, domain) = tpl
            .split_once('@')
            .ok_or_else(|| UsersError(format!("no @domain in {tpl:?}")))?;
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let first: u64 = a
            .trim()
            .parse()
            .map_err(|_| UsersError(format!("bad range {range:?}")))?;
        let last: u64 = b
            .trim()
            .parse()
            .map_err(|_| UsersError(format!("bad range {range:?}")))?;
        if last < first {
            return Err(UsersError(format!("empty range {range:?}")));
        }
        Ok(Self::Range {
            user: user.to_string(),
            domain: domain.to_string(),
            first,
            last,
            password: password.to_string(),
        })
    }

    /// Parses a SIPp injection CSV (`user;domain;password`; a first line of
    /// SEQUENTIAL/RANDOM/USER and `#` comments are skipped).
    pub fn from_csv(text: &str) -> Result<Self, UsersError> {
        let mut list = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if i == 0 && matches!(line, "SEQUENTIAL" | "RANDOM" | "USER" | "PRINTF") {
                continue;
            }
            if list.len() >= MAX_USERS {
                eprintln!("warning: only the first {MAX_USERS} users of the CSV are used");
                break;
            }
            let mut f = line.split(';');
            let user = f.next().unwrap_or("").trim();
            let domain = f.next().unwrap_or("").trim();
            let password = f.next().unwrap_or("").trim();
            if user.is_empty() {
                return Err(UsersError(format!("line {}: empty user", i + 1)));
            }
            list.push(User {
                user: user.to_string(),
                domain: domain.to_string(),
                password: password.to_string(),
            });
        }
        if list.is_empty() {
            return Err(UsersError("no users in the CSV".into()));
        }
        Ok(Self::List(list))
    }

    /// How many users there are.
    pub fn len(&self) -> u64 {
        match self {
            Self::Range { first, last, .. } => last - first + 1,
            Self::List(l) => l.len() as u64,
        }
    }

    /// Whether there is none (never true for a constructed value).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// User number `i` (taken modulo the count), with `default_domain` for an empty domain.
    pub fn get(&self, i: u64, default_domain: &str) -> User {
        let mut u = match self {
            Self::Range {
                user,
                domain,
                first,
                last,
                password,
            } => {
                let n = first + i % (last - first + 1);
                User {
                    user: fill(user, n),
                    domain: domain.clone(),
                    password: fill(password, n),
                }
            }
            Self::List(l) => l[(i % l.len() as u64) as usize].clone(),
        };
        if u.domain.is_empty() {
            u.domain = default_domain.to_string();
        }
        u
    }

    /// The password of `name`, for the registrar (a range is matched by its template).
    pub fn password_of(&self, name: &str) -> Option<String> {
        match self {
            Self::Range {
                user,
                first,
                last,
                password,
                ..
            } => {
                let (pre, post, _) = split_template(user);
                let n = name.strip_prefix(pre)?.strip_suffix(post)?;
                let v: u64 = n.trim_start().parse().ok()?;
                if v < *first || v > *last || fill(user, v) != name {
                    return None;
                }
                Some(fill(password, v))
            }
            Self::List(l) => l
                .iter()
                .find(|u| u.user == name)
                .map(|u| u.password.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_range() {
        let u = Users::from_template("user%d@example.com", "1-3", "pw%d").unwrap();
        assert_eq!(u.len(), 3);
        let x = u.get(4, "d");
        assert_eq!(
            (x.user.as_str(), x.domain.as_str(), x.password.as_str()),
            ("user2", "example.com", "pw2")
        );
        assert_eq!(u.password_of("user3").as_deref(), Some("pw3"));
        assert_eq!(u.password_of("user4"), None);
        assert_eq!(u.password_of("user03"), None);
        assert!(Users::from_template("nodomain", "1-2", "p").is_err());
        let z = Users::from_template("u%06d@127.0.0.1", "1-1000", "pw%06d").unwrap();
        assert_eq!(z.get(41, "x").user, "u000042");
        assert_eq!(z.password_of("u000042").as_deref(), Some("pw000042"));
        assert_eq!(z.password_of("u42"), None);
        assert_eq!(fill("a%5db", 7), "a    7b");
        assert_eq!(fill("plain", 7), "plain");
        assert!(Users::from_template("u%d@d", "5-2", "p").is_err());
    }

    #[test]
    fn sipp_csv() {
        let u = Users::from_csv("SEQUENTIAL\n# c\nalice;a.com;s1\nbob;;s2\n").unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u.get(1, "def").domain, "def");
        assert_eq!(u.password_of("alice").as_deref(), Some("s1"));
        assert!(Users::from_csv("SEQUENTIAL\n").is_err());
    }
}
