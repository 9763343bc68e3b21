//! A reader for `~/.netrc` (the format of ftp(1), curl and Python's `netrc`).
//!
//! Tokens are separated by white space: `machine NAME`, `default`, `login NAME`,
//! `password PASS`, `account ACCT`, `macdef NAME` (its body, up to the next blank line, is
//! skipped). A token may be double-quoted, with `\` escaping the next character. A `#` that
//! starts a token comments out the rest of the line. Unknown tokens are skipped.
//! Error messages never quote a token, so a password cannot leak through them.

use peex_core::Secret;

/// One `machine` (or `default`) entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetrcEntry {
    /// The host name; `None` for the `default` entry.
    pub machine: Option<String>,
    /// The login, if given.
    pub login: Option<String>,
    /// The password, if given.
    pub password: Option<Secret>,
}

/// A netrc syntax error: the 1-based line and a message that quotes no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetrcError {
    pub line: usize,
    pub message: String,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Lexer<'_> {
    /// The next token and the line it starts on.
    fn next_token(&mut self) -> Option<(String, usize)> {
        loop {
            match self.chars.peek().copied() {
                None => return None,
                Some('\n') => {
                    self.line += 1;
                    self.chars.next();
                }
                Some(c) if c.is_whitespace() => {
                    self.chars.next();
                }
                Some('#') => {
                    while let Some(&c) = self.chars.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.chars.next();
                    }
                }
                Some(_) => break,
            }
        }
        let line = self.line;
        let mut tok = String::new();
        if self.chars.peek() == Some(&'"') {
            self.chars.next();
            while let Some(c) = self.chars.next() {
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(n) = self.chars.next() {
                            if n == '\n' {
                                self.line += 1;
                            }
                            tok.push(n);
                        }
                    }
                    '\n' => {
                        self.line += 1;
                        tok.push(c);
                    }
                    _ => tok.push(c),
                }
            }
        } else {
            while let Some(&c) = self.chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                tok.push(c);
                self.chars.next();
            }
        }
        Some((tok, line))
    }

    /// Skips a `macdef` body: the rest of the current line, then every line up to and
    /// including the next empty (or blank) one.
    fn skip_macro(&mut self) {
        // Rest of the `macdef NAME` line.
        for c in self.chars.by_ref() {
            if c == '\n' {
                self.line += 1;
                break;
            }
        }
        loop {
            let mut blank = true;
            let mut ended = true;
            for c in self.chars.by_ref() {
                if c == '\n' {
                    self.line += 1;
                    ended = false;
                    break;
                }
                if !c.is_whitespace() {
                    blank = false;
                }
            }
            if blank || ended {
                return;
            }
        }
    }
}

/// Parses the whole file into its entries, in order.
pub(crate) fn parse(text: &str) -> Result<Vec<NetrcEntry>, NetrcError> {
    let mut lx = Lexer {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut entries: Vec<NetrcEntry> = Vec::new();
    while let Some((tok, line)) = lx.next_token() {
        let needs_value = |lx: &mut Lexer<'_>, what: &str| {
            lx.next_token().map(|(v, _)| v).ok_or_else(|| NetrcError {
                line,
                message: format!("`{what}` needs a value"),
            })
        };
        match tok.as_str() {
            "machine" => {
                let name = needs_value(&mut lx, "machine")?;
                entries.push(NetrcEntry {
                    machine: Some(name),
                    ..NetrcEntry::default()
                });
            }
            "default" => entries.push(NetrcEntry::default()),
            "login" | "password" | "account" => {
                let value = needs_value(&mut lx, &tok)?;
                let Some(entry) = entries.last_mut() else {
                    return Err(NetrcError {
                        line,
                        message: format!("`{tok}` before any `machine` or `default`"),
                    });
                };
                match tok.as_str() {
                    "login" => entry.login = Some(value),
                    "password" => entry.password = Some(Secret::new(value)),
                    _ => {}
                }
            }
            "macdef" => lx.skip_macro(),
            _ => {} // unknown token (or a value we do not use): skipped, never quoted
        }
    }
    Ok(entries)
}

/// The entry for `host` (case-insensitive): the first `machine` entry whose login is absent
/// or equals `user` (any login when `user` is empty), else such a `default` entry.
pub(crate) fn lookup<'a>(
    entries: &'a [NetrcEntry],
    host: &str,
    user: &str,
) -> Option<&'a NetrcEntry> {
    let login_ok = |e: &NetrcEntry| user.is_empty() || e.login.as_deref().is_none_or(|l| l == user);
    entries
        .iter()
        .find(|e| {
            e.machine
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(host))
                && login_ok(e)
        })
        .or_else(|| entries.iter().find(|e| e.machine.is_none() && login_ok(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# my netrc
machine ftp.example.com login alice password s3cret
machine ftp.example.com
    login bob
    password \"two words\"
macdef init
  cd /pub
  machine evil.com password nope

machine other.org login carol password pw#1 # comment
default login anonymous password guest@
";

    #[test]
    fn machine_and_login_match() {
        let e = parse(SAMPLE).expect("parses");
        assert_eq!(e.len(), 4);
        let a = lookup(&e, "FTP.example.com", "alice").expect("alice");
        assert_eq!(a.password.as_ref().map(Secret::expose), Some("s3cret"));
        let b = lookup(&e, "ftp.example.com", "bob").expect("bob");
        assert_eq!(b.password.as_ref().map(Secret::expose), Some("two words"));
        // No user given: the first entry for the machine.
        let any = lookup(&e, "ftp.example.com", "").expect("first");
        assert_eq!(any.login.as_deref(), Some("alice"));
        let c = lookup(&e, "other.org", "").expect("carol");
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("pw#1"));
    }

    #[test]
    fn macdef_body_is_skipped() {
        let e = parse(SAMPLE).expect("parses");
        assert!(e.iter().all(|x| x.machine.as_deref() != Some("evil.com")));
    }

    #[test]
    fn default_and_missing() {
        let e = parse(SAMPLE).expect("parses");
        let d = lookup(&e, "nowhere.net", "").expect("default");
        assert_eq!(d.login.as_deref(), Some("anonymous"));
        // A user the default entry does not name: nothing.
        assert!(lookup(&e, "nowhere.net", "dave").is_none());
        assert!(lookup(&parse("").expect("empty"), "x", "").is_none());
        let only = parse("machine a login u password p").expect("parses");
        assert!(lookup(&only, "b", "").is_none());
    }

    #[test]
    fn errors_name_the_line_but_no_token() {
        let err = parse("machine a\n  login u\n  password").expect_err("no value");
        assert_eq!(err.line, 3);
        let err = parse("password hunter2\nmachine a").expect_err("orphan");
        assert_eq!(err.line, 1);
        assert!(!err.message.contains("hunter2"));
    }
}
