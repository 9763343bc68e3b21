//! PEEX's INI format, read the way PEEX users wrote it.
//!
//! ```ini
//! [site]
//! host=localhost
//! port=2121
//! user=test
//! pass=test
//! source=/path/to/site/
//! dest=/www/
//!
//! [exceptions]
//! # Do not delete any remote files or dirs CONTAINING the word "uploads"
//! uploads=protect
//! # Ignore local files or dirs whose name matches "offline" EXACTLY
//! ^offline$=ignore
//! b1\.jpg=protect
//! ```
//!
//! * Section names and `[site]` keys are case-insensitive. A `[site]` line is
//!   `key = value` or `key: value` (the first `=` or `:` separates; spaces around it are
//!   allowed). Keys: `host`, `port`, `user`, `pass` (or `password`), `source`, `dest`,
//!   `srcutime`, and the newer `transport`, `jobs`, `max_delete`, `timeout`, `retries`,
//!   `mtime_from`, `compare`, `tls_verify`, `symlinks` (`inside`, the default, `skip` or `follow`),
//!   `ca_file`, `implicit_tls`, `known_hosts`, `key_file`, `key_passphrase`,
//!   `accept_new_host_key`, `agent`, `host_key_check` (SFTP; turning host key checking off
//!   warns on every run). Booleans are `true/false`, `yes/no`, `on/off`, `1/0`.
//!   An unknown key, a repeated key or a repeated section is an error.
//! * An `[exceptions]` line is `PATTERN=ACTION`: the action is the text after the **last**
//!   `=` (`ignore` or `protect`, any case), the pattern everything before it, with the
//!   surrounding white space trimmed and nothing else changed — so a pattern may contain
//!   `=`, `:`, `#`, `;`, `[`, `]` and spaces (`a=b=ignore` is the pattern `a=b`). A line
//!   without any `=` may use the last `:` instead (`uploads: protect`), as configparser
//!   allowed. Inside `[exceptions]` a line is a section header only if it is exactly
//!   `[name]` with letters and `_` in the name. Rules keep their order and search the
//!   whole relative path (scope `path`, for files and directories alike).
//! * Comments are whole lines whose first non-blank character is `#` or `;`; there are no
//!   inline comments. A pattern that starts with `#` or `;` must therefore be written
//!   `\#...` or `\;...` (the same regular expression).
//! * Blank lines are ignored. Text before the first section, or an unknown section, is an
//!   error. Errors give the line and column (1-based) of the offending token and never quote
//!   the password.

use super::{column, ConfigError, Draft, Pos, Val};
use super::{Action, AppliesTo, Rule, Scope};
use peex_core::Secret;
use std::collections::HashMap;
use std::path::Path;

/// The keys `[site]` accepts (lower case).
pub const SITE_KEYS: &[&str] = &[
    "host",
    "port",
    "user",
    "pass",
    "password",
    "source",
    "dest",
    "srcutime",
    "symlinks",
    "mtime_from",
    "compare",
    "transport",
    "jobs",
    "max_delete",
    "timeout",
    "retries",
    "tls_verify",
    "ca_file",
    "implicit_tls",
    "known_hosts",
    "key_file",
    "key_passphrase",
    "accept_new_host_key",
    "agent",
    "host_key_check",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Site,
    Exceptions,
}

/// `[name]` with only letters and `_`: the only header form recognised in `[exceptions]`.
fn is_strict_header(t: &str) -> bool {
    t.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Parses PEEX INI text; `origin` names the file in messages and rule origins.
pub(crate) fn parse(text: &str, origin: &Path) -> Result<Draft, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = Draft::default();
    let mut section = Section::None;
    let mut seen_sections: HashMap<&'static str, usize> = HashMap::new();
    let mut seen_keys: HashMap<String, usize> = HashMap::new();
    let mut has_site = false;
    let err = |line: usize, col: usize, msg: String| ConfigError::at(origin, line, col, msg);

    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let start = line.len() - line.trim_start().len();
        let start_col = column(line, start);

        let is_header = match section {
            Section::Exceptions => is_strict_header(trimmed),
            _ => trimmed.starts_with('['),
        };
        if is_header {
            let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
                return Err(err(
                    line_no,
                    start_col,
                    "malformed section header: expected [site] or [exceptions]".into(),
                ));
            };
            let name = name.trim().to_ascii_lowercase();
            let (key, next) = match name.as_str() {
                "site" => ("site", Section::Site),
                "exceptions" => ("exceptions", Section::Exceptions),
                _ => {
                    return Err(err(
                        line_no,
                        start_col,
                        format!("unknown section [{name}]: expected [site] or [exceptions]"),
                    ))
                }
            };
            if let Some(first) = seen_sections.insert(key, line_no) {
                return Err(err(
                    line_no,
                    start_col,
                    format!("section [{key}] appears twice (first on line {first})"),
                ));
            }
            if next == Section::Site {
                has_site = true;
                d.anchor = Some(Pos {
                    line: line_no,
                    col: start_col,
                });
            }
            section = next;
            continue;
        }

        match section {
            Section::None => {
                return Err(err(
                    line_no,
                    start_col,
                    "text before the first section: expected [site] or [exceptions]".into(),
                ))
            }
            Section::Site => site_line(&mut d, &mut seen_keys, origin, line, line_no)?,
            Section::Exceptions => d.rules.push(rule_line(origin, line, line_no)?),
        }
    }
    if !has_site {
        return Err(ConfigError::new(
            origin,
            "missing [site] section (with at least source and dest)",
        ));
    }
    Ok(d)
}

/// One `key = value` line of `[site]`.
fn site_line(
    d: &mut Draft,
    seen: &mut HashMap<String, usize>,
    origin: &Path,
    line: &str,
    line_no: usize,
) -> Result<(), ConfigError> {
    let start = line.len() - line.trim_start().len();
    let Some(delim) = line.find(['=', ':']) else {
        return Err(ConfigError::at(
            origin,
            line_no,
            column(line, start),
            "expected `key = value`",
        ));
    };
    let key = line[..delim].trim();
    if key.is_empty() {
        return Err(ConfigError::at(
            origin,
            line_no,
            column(line, delim),
            "missing key before the separator",
        ));
    }
    let key_pos = Pos {
        line: line_no,
        col: column(line, start),
    };
    let after = &line[delim + 1..];
    let value = after.trim();
    let value_byte = delim + 1 + (after.len() - after.trim_start().len());
    let vpos = Some(Pos {
        line: line_no,
        col: column(line, value_byte),
    });
    let lkey = key.to_ascii_lowercase();
    if !SITE_KEYS.contains(&lkey.as_str()) {
        return Err(ConfigError::at(
            origin,
            key_pos.line,
            key_pos.col,
            format!(
                "unknown key `{key}` in [site]; known keys: {}",
                SITE_KEYS.join(", ")
            ),
        ));
    }
    // `pass` and `password` are one setting.
    let canon = if lkey == "password" {
        "pass".to_owned()
    } else {
        lkey.clone()
    };
    if let Some(first) = seen.insert(canon, line_no) {
        return Err(ConfigError::at(
            origin,
            key_pos.line,
            key_pos.col,
            format!("`{key}` is set twice (first on line {first})"),
        ));
    }
    let bad = |what: &str| {
        ConfigError::at_pos(
            origin,
            vpos,
            format!("{lkey}: expected {what}, got `{value}`"),
        )
    };
    let boolean = || parse_bool(value).ok_or_else(|| bad("true or false"));
    let number = || value.parse::<u64>().map_err(|_| bad("a whole number"));
    let text = || Val::new(value.to_owned(), vpos);
    match lkey.as_str() {
        "host" => d.host = Some(text()),
        "port" => d.port = Some(Val::new(number()?, vpos)),
        "user" => d.user = Some(value.to_owned()),
        "pass" | "password" => d.password = Some(Secret::new(value)),
        "source" => d.source = Some(text()),
        "dest" => d.dest = Some(text()),
        "srcutime" => d.srcutime = boolean()?,
        "symlinks" => {
            d.symlinks = Some(
                crate::local::Symlinks::from_name(value)
                    .ok_or_else(|| bad(crate::local::Symlinks::NAMES))?,
            )
        }
        "mtime_from" => d.mtime_from = Some(text()),
        "compare" => d.compare = Some(text()),
        "transport" => d.transport = Some(text()),
        "jobs" => d.jobs = Some(Val::new(number()?, vpos)),
        "max_delete" => d.max_delete = Some(number()?),
        "timeout" => d.timeout = Some(Val::new(number()?, vpos)),
        "retries" => d.retries = Some(Val::new(number()?, vpos)),
        "tls_verify" => d.tls_verify = Some(boolean()?),
        "ca_file" => d.ca_file = Some(text()),
        "implicit_tls" => d.implicit_tls = Some(boolean()?),
        "known_hosts" => d.known_hosts = Some(text()),
        "key_file" => d.key_file = Some(text()),
        "key_passphrase" if !value.is_empty() => {
            d.secret_options
                .insert("key_passphrase".into(), Secret::new(value));
        }
        "accept_new_host_key" => d.accept_new_host_key = Some(boolean()?),
        "agent" => d.agent = Some(boolean()?),
        "host_key_check" => d.host_key_check = Some(boolean()?),
        _ => {}
    }
    Ok(())
}

/// One `PATTERN=ACTION` line of `[exceptions]`.
fn rule_line(origin: &Path, line: &str, line_no: usize) -> Result<Rule, ConfigError> {
    let start = line.len() - line.trim_start().len();
    let Some(delim) = line.rfind('=').or_else(|| line.rfind(':')) else {
        return Err(ConfigError::at(
            origin,
            line_no,
            column(line, start),
            "expected `PATTERN=ignore` or `PATTERN=protect`",
        ));
    };
    let pattern = line[..delim].trim();
    if pattern.is_empty() {
        return Err(ConfigError::at(
            origin,
            line_no,
            column(line, delim),
            "empty pattern before `=`",
        ));
    }
    let after = &line[delim + 1..];
    let action_text = after.trim();
    let action_col = column(line, delim + 1 + (after.len() - after.trim_start().len()));
    let action = match action_text.to_ascii_lowercase().as_str() {
        "ignore" => Action::Ignore,
        "protect" => Action::Protect,
        _ => {
            return Err(ConfigError::at(
                origin,
                line_no,
                action_col,
                format!("unknown action `{action_text}` for pattern `{pattern}`: expected ignore or protect"),
            ))
        }
    };
    let where_ = format!("{}:{line_no}", origin.display());
    Rule::new(pattern, action, Scope::Path, AppliesTo::Any, where_).map_err(|e| {
        ConfigError::at(
            origin,
            line_no,
            column(line, start),
            format!("bad regular expression `{pattern}`: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::{parse_str, Format, SiteConfig};
    use super::*;
    use std::path::PathBuf;

    fn ini(text: &str) -> Result<SiteConfig, ConfigError> {
        parse_str(text, Path::new("/sites/mysite.peex"), Format::Ini)
    }

    fn ini_err(text: &str) -> String {
        ini(text).expect_err("should fail").to_string()
    }

    fn patterns(cfg: &SiteConfig) -> Vec<(&str, Action)> {
        cfg.rules
            .iter()
            .map(|r| (r.pattern.as_str(), r.action))
            .collect()
    }

    const SITE: &str = "[site]\nhost=h\nsource=s\ndest=/d\n";

    const PEEX_EXAMPLE: &str = "\
[site]
host=localhost
port=2121
user=test
pass=test
source=/path/to/site/
dest=/www/

[exceptions]
# Do not delete any remote files or dirs CONTAINING the word \"uploads\"
uploads=protect
# Ignore local files or dirs whose name matches \"offline\" EXACTLY
^offline$=ignore
b1\\.jpg=protect
";

    #[test]
    fn peex_example() {
        let cfg = ini(PEEX_EXAMPLE).expect("parses");
        assert_eq!(cfg.transport, "ftp");
        assert_eq!(cfg.host, "localhost");
        assert_eq!(cfg.port, Some(2121));
        assert_eq!(cfg.user, "test");
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("test"));
        assert_eq!(cfg.source, PathBuf::from("/path/to/site/"));
        assert_eq!(cfg.dest, "/www/");
        assert!(!cfg.srcutime);
        assert_eq!(
            patterns(&cfg),
            [
                ("uploads", Action::Protect),
                ("^offline$", Action::Ignore),
                (r"b1\.jpg", Action::Protect)
            ]
        );
        let r = &cfg.rules[1];
        assert_eq!(r.origin, "/sites/mysite.peex:13");
        assert_eq!((r.scope, r.applies_to), (Scope::Path, AppliesTo::Any));
        assert!(cfg.rules[0].matches("a/uploads/b.png", false));
        assert!(r.matches("offline", true) && !r.matches("a/offline", true));
    }

    #[test]
    fn patterns_keep_special_characters() {
        let text = format!(
            "{SITE}[exceptions]\n\
             a=b=ignore\n\
             [abc]\\.tmp=ignore\n\
             foo # bar=protect\n\
             x: y=ignore\n\
             \x20 with  inner spaces  =  PROTECT \n\
             semi;colon=Ignore\n\
             \\#hash=ignore\n\
             uploads: protect\n\
             ]odd\\[=ignore\n"
        );
        let cfg = ini(&text).expect("parses");
        assert_eq!(
            patterns(&cfg),
            [
                ("a=b", Action::Ignore),
                (r"[abc]\.tmp", Action::Ignore),
                ("foo # bar", Action::Protect),
                ("x: y", Action::Ignore),
                ("with  inner spaces", Action::Protect),
                ("semi;colon", Action::Ignore),
                (r"\#hash", Action::Ignore),
                ("uploads", Action::Protect),
                (r"]odd\[", Action::Ignore),
            ]
        );
        assert!(cfg.rules[1].matches("dir/b.tmp", false));
        assert!(cfg.rules[6].matches("#hash", false));
    }

    #[test]
    fn comments_blank_lines_and_key_colon_value() {
        let text = "\n# comment\n; other\n[SITE]\n  HOST : example.org \nPort=21\n\
                    User = me\n  # indented comment\nSource: src\nDEST: /www/\nsrcutime=Yes\n\
                    Password=pw\n[Exceptions]\n; x=ignore\n\n# y=ignore\nz=ignore\n";
        let cfg = ini(text).expect("parses");
        assert_eq!(cfg.host, "example.org");
        assert_eq!(cfg.port, Some(21));
        assert_eq!(cfg.user, "me");
        assert_eq!(cfg.source, PathBuf::from("/sites/src"));
        assert_eq!(cfg.dest, "/www/");
        assert!(cfg.srcutime);
        assert_eq!(cfg.password.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(patterns(&cfg), [("z", Action::Ignore)]);
    }

    #[test]
    fn newer_keys() {
        let text = format!(
            "{SITE}transport=SFTP\njobs=8\nmax_delete=50\ntimeout=10\nknown_hosts=kh\n\
             key_file=/k\nkey_passphrase=sesame\naccept_new_host_key=on\nimplicit_tls=1\n"
        );
        let cfg = ini(&text).expect("parses");
        assert_eq!(cfg.transport, "sftp");
        assert_eq!(cfg.jobs, Some(8));
        assert_eq!(cfg.max_delete, Some(50));
        assert_eq!(cfg.timeout_secs, Some(10));
        assert_eq!(cfg.retries, None);
        assert!(cfg.tls.implicit);
        assert_eq!(
            cfg.options.get("known_hosts").map(String::as_str),
            Some("/sites/kh")
        );
        assert_eq!(cfg.options.get("key_file").map(String::as_str), Some("/k"));
        assert_eq!(
            cfg.options.get("accept_new_host_key").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            cfg.secret_options.get("key_passphrase").map(Secret::expose),
            Some("sesame")
        );
    }

    #[test]
    fn retries_key() {
        let cfg = ini(&format!("{SITE}retries=5\n")).expect("parses");
        assert_eq!(cfg.retries, Some(5));
        let cfg = ini(&format!("{SITE}Retries: 0\n")).expect("parses");
        assert_eq!(cfg.retries, Some(0));
        assert!(SITE_KEYS.contains(&"retries"));
    }

    #[test]
    fn bad_action_names_line_and_column() {
        let e = ini_err(&format!("{SITE}[exceptions]\nuploads=protekt\n"));
        assert!(
            e.starts_with("/sites/mysite.peex:6:9: unknown action `protekt`"),
            "{e}"
        );
        let e = ini_err(&format!("{SITE}[exceptions]\n  just a line\n"));
        assert!(e.starts_with("/sites/mysite.peex:6:3: expected"), "{e}");
        let e = ini_err(&format!("{SITE}[exceptions]\n=ignore\n"));
        assert!(e.contains(":6:1: empty pattern"), "{e}");
        let e = ini_err(&format!("{SITE}[exceptions]\nfoo=\n"));
        assert!(e.contains(":6:5: unknown action ``"), "{e}");
    }

    #[test]
    fn bad_regex_names_the_pattern() {
        let e = ini_err(&format!("{SITE}[exceptions]\n# c\n  a(b=ignore\n"));
        assert!(
            e.starts_with("/sites/mysite.peex:7:3: bad regular expression `a(b`: "),
            "{e}"
        );
        assert!(e.contains("unclosed group"), "{e}");
    }

    #[test]
    fn unknown_key_lists_known_ones() {
        let e = ini_err("[site]\nhost=h\n   hots=x\nsource=s\ndest=/d\n");
        assert!(
            e.starts_with(
                "/sites/mysite.peex:3:4: unknown key `hots` in [site]; known keys: host, port"
            ),
            "{e}"
        );
        let e = ini_err("[site]\npass=hunter2\npasword=hunter2\n");
        assert!(!e.contains("hunter2"), "{e}");
        let e = ini_err("[site]\nhost=a\nHost=b\n");
        assert!(
            e.contains(":3:1: `Host` is set twice (first on line 2)"),
            "{e}"
        );
        let e = ini_err("[site]\npass=a\npassword=b\n");
        assert!(e.contains("set twice"), "{e}");
    }

    #[test]
    fn missing_source_or_dest() {
        let e = ini_err("[site]\nhost=h\ndest=/d\n");
        assert_eq!(
            e,
            "/sites/mysite.peex:1:1: missing `source` (the local folder to publish)"
        );
        let e = ini_err("[site]\nhost=h\nsource=s\n");
        assert!(e.contains("missing `dest`"), "{e}");
        let e = ini_err("[exceptions]\na=ignore\n");
        assert_eq!(
            e,
            "/sites/mysite.peex: missing [site] section (with at least source and dest)"
        );
    }

    #[test]
    fn text_before_section_and_unknown_sections() {
        let e = ini_err("host=h\n[site]\n");
        assert!(
            e.starts_with("/sites/mysite.peex:1:1: text before the first section"),
            "{e}"
        );
        let e = ini_err("# c\n\n[site]\nhost=h\n[general]\n");
        assert!(
            e.starts_with("/sites/mysite.peex:5:1: unknown section [general]"),
            "{e}"
        );
        let e = ini_err("[site\nhost=h\n");
        assert!(e.contains(":1:1: malformed section header"), "{e}");
        let e = ini_err(&format!("{SITE}[exceptions]\n[other]\n"));
        assert!(e.contains(":6:1: unknown section [other]"), "{e}");
        // A header ends [exceptions]; back in [site] is a second [site].
        let e = ini_err(&format!("{SITE}[exceptions]\n[Site]\n"));
        assert!(e.contains(":6:1: section [site] appears twice"), "{e}");
    }

    #[test]
    fn symlinks_key() {
        use crate::local::Symlinks;
        assert_eq!(ini(SITE).unwrap().symlinks, Symlinks::Inside);
        let cfg = ini(&format!("{SITE}Symlinks: Skip\n")).unwrap();
        assert_eq!(cfg.symlinks, Symlinks::Skip);
    }

    #[test]
    fn value_errors_name_the_value() {
        let e = ini_err(&format!("{SITE}srcutime=maybe\n"));
        assert!(
            e.contains(":5:10: srcutime: expected true or false, got `maybe`"),
            "{e}"
        );
        let e = ini_err(&format!("{SITE}symlinks = always\n"));
        assert!(
            e.contains(":5:12: symlinks: expected inside, skip or follow, got `always`"),
            "{e}"
        );
        let e = ini_err(&format!("{SITE}port = abc\n"));
        assert!(e.contains(":5:8: port: expected a whole number"), "{e}");
    }

    #[test]
    fn crlf_and_bom() {
        let text =
            "\u{feff}[site]\r\nhost=h\r\nsource=s\r\ndest=/d\r\n[exceptions]\r\nx=ignore\r\n";
        let cfg = ini(text).expect("parses");
        assert_eq!(cfg.dest, "/d");
        assert_eq!(patterns(&cfg), [("x", Action::Ignore)]);
    }
}
